/** parseDn's fast path for plain DNs agrees with @ldapjs/dn, which it stands in for. */
import { describe, expect, it } from 'vitest';
import { DN } from '@ldapjs/dn';
import { parseDn, rdnsOf } from '../../protocols/ldap/dn.ts';

const viaLdapjs = (dn: string) => {
  try {
    return rdnsOf(DN.fromString(dn));
  } catch {
    return undefined;
  }
};

describe('LDAP DN parsing', () => {
  it('splits plain DNs as @ldapjs/dn does, and leaves the rest to it', () => {
    for (const dn of [
      'uid=alice,ou=people,dc=example,dc=com', 'UID=Alice,OU=People,DC=Example,DC=Com', 'uid = alice , ou=people,dc=example, dc=com',
      'cn=Alice Liddell,ou=people,dc=example,dc=com', 'cn=a.b_c-d@e.f,dc=x', '2.5.4.3=x,dc=y', 'uid=zoë,dc=x', 'cn=x y  z,dc=q', ' cn=x,dc=y ',
      // Not plain: escapes, multi-valued RDNs, hex values, empty and odd parts.
      'cn=a\\,b,dc=x', 'cn="quoted",dc=x', 'cn=a+sn=b,dc=x', 'cn=#04024869,dc=x', 'cn=,dc=x', 'cn=a=b,dc=x', 'uid=a,,dc=x', 'foo', 'cn=x,dc=y,', '=x',
    ]) {
      expect(parseDn(dn), dn).toEqual(viaLdapjs(dn));
    }
    expect(parseDn('')).toEqual([]);
  });
});
