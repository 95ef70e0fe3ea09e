/**
 * Extensible match (RFC 4511 §4.5.1.7.7, RFC 4515 `(attr:dn:rule:=value)`) through ldapts: the
 * common matching rules by OID and by name, `:dn:`, a rule without an attribute, and Undefined
 * (an unknown rule, a rule that does not apply, an invalid assertion), which NOT leaves Undefined.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Entry } from 'ldapts';
import { backends } from '../helpers/backends.ts';
import { BASE, dnOf, startWithReader, type LdapFixture } from './support.ts';

const PEOPLE = `ou=people,${BASE}`;
const uids = (entries: Entry[]) => entries.map((e) => e.uid as string).sort();

describe.each(backends)('LDAP extensible match ($name)', (backend) => {
  let t: LdapFixture;
  let reader: Client;
  beforeAll(async () => {
    ({ t, reader } = await startWithReader(backend));
  });
  afterAll(async () => t?.stop());

  /** People matching, as the reader bob (who sees everyone): alice, bob, carol (suspended, still listed), dave. */
  const people = async (filter: string) => uids((await reader.search(PEOPLE, { scope: 'one', filter })).searchEntries);
  const everything = async (filter: string) => (await reader.search(BASE, { scope: 'sub', filter })).searchEntries.map((e) => e.dn).sort();

  it('applies the case rules by name and by OID', async () => {
    expect(await people('(cn:caseExactMatch:=Alice Liddell)')).toEqual(['alice']);
    expect(await people('(cn:2.5.13.5:=alice liddell)')).toEqual([]);
    expect(await people('(cn:caseIgnoreMatch:=ALICE   LIDDELL)')).toEqual(['alice']);
    expect(await people('(cn:2.5.13.2:=alice liddell)')).toEqual(['alice']);
    expect(await people('(mail:caseIgnoreIA5Match:=ALICE@example.com)')).toEqual(['alice']);
    expect(await people('(mail:1.3.6.1.4.1.1466.109.114.1:=ALICE@example.com)')).toEqual([]);
    expect(await people('(mail:1.3.6.1.4.1.1466.109.114.1:=alice@example.com)')).toEqual(['alice']);
    // Rule names are case-insensitive; a negated TRUE/FALSE works as usual.
    expect(await people('(!(cn:CASEEXACTMATCH:=Alice Liddell))')).toEqual(['bob', 'carol', 'dave']);
  });

  it('applies distinguishedNameMatch, integerMatch, numericStringMatch and octetStringMatch', async () => {
    expect(await people(`(memberOf:distinguishedNameMatch:=CN=Staff,OU=Groups,DC=Example,DC=Com)`)).toEqual(['alice']);
    expect(await people(`(memberOf:2.5.13.1:=cn=ldap-readers,ou=groups,${BASE})`)).toEqual(['bob']);
    expect(await people('(uidNumber:integerMatch:=010001)')).toEqual(['alice']);
    expect(await people('(uidNumber:2.5.13.14:=9000)')).toEqual(['dave']);
    expect(await people('(uidNumber:numericStringMatch:=100 02)')).toEqual(['bob']);
    expect(await people('(uid:octetStringMatch:=alice)')).toEqual(['alice']);
    expect(await people('(uid:2.5.13.17:=ALICE)')).toEqual([]);
  });

  it('uses the attribute equality without a rule, and every attribute the rule applies to without an attribute', async () => {
    expect(await people('(uid:=ALICE)')).toEqual(['alice']);
    // cn and displayName are both "Alice Liddell"; "Bob" is bob's cn and displayName.
    expect(await people('(:caseExactMatch:=Bob)')).toEqual(['bob']);
    expect(await people('(:2.5.13.14:=10002)')).toEqual(['bob']);
    expect(await people('(:integerMatch:=5001)')).toEqual(['alice']);
  });

  it('matches the attributes of the DN with :dn:', async () => {
    // Without :dn:, only the container has ou=people; with it, every entry below it too.
    expect(await everything('(ou=people)')).toEqual([PEOPLE]);
    expect(await everything('(ou:dn:=people)')).toEqual([PEOPLE, dnOf('alice'), dnOf('bob'), dnOf('carol'), dnOf('dave')].sort());
    expect(await everything('(&(objectClass=groupOfNames)(ou:dn:caseExactMatch:=groups))')).toEqual(
      ['engineering', 'ldap-readers', 'staff'].map((g) => `cn=${g},ou=groups,${BASE}`),
    );
    expect(await everything('(&(objectClass=groupOfNames)(ou:dn:caseExactMatch:=GROUPS))')).toEqual([]);
    // No attribute: any DN attribute the rule applies to.
    expect(await people('(:dn:caseExactIA5Match:=example)')).toEqual(['alice', 'bob', 'carol', 'dave']);
  });

  it('evaluates an unknown or inapplicable rule, or an invalid assertion, to Undefined: never returned, not even negated', async () => {
    for (const item of [
      '(cn:1.2.3.4.5:=Alice Liddell)', // unknown rule
      '(uidNumber:1.2.840.113556.1.4.803:=2)', // Active Directory's bitwise AND: not implemented
      '(cn:integerMatch:=1)', // integerMatch does not apply to a directory string
      '(uidNumber:integerMatch:=ten)', // not an integer
      '(memberOf:distinguishedNameMatch:=not a DN)',
      '(mail:caseIgnoreIA5Match:=é@example.com)', // not IA5
      '(uidNumber=abc)', // a plain equality with an invalid value is Undefined too
    ]) {
      expect(await people(item), item).toEqual([]);
      expect(await people(`(!${item})`), `(!${item})`).toEqual([]);
    }
    // Undefined inside an or does not hide a TRUE branch, and inside an and it never makes TRUE.
    expect(await people('(|(cn:1.2.3.4:=x)(uid=dave))')).toEqual(['dave']);
    expect(await people('(&(cn:1.2.3.4:=x)(uid=dave))')).toEqual([]);
    expect(await people('(!(&(cn:1.2.3.4:=x)(uid=dave)))')).toEqual(['alice', 'bob', 'carol']);
  });
});
