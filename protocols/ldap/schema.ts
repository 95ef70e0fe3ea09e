/**
 * The subschema subentry (RFC 4512 §4.2): the definitions of every attribute type and object class
 * the tree (tree.ts) and the root DSE use, so schema-aware clients (Apache Directory Studio, SSSD's
 * schema checks, ldapsearch users) can read them. The strings are the standard ones — RFC 4512
 * (operational), RFC 4519 (core; applicationProcess for service accounts), RFC 4524 (mail), RFC 2798 (inetOrgPerson), RFC 2307bis
 * (posixAccount/posixGroup: posixGroup is AUXILIARY there, as it must be to sit next to
 * groupOfNames), RFC 4530 (entryUUID), RFC 3045 (vendorName), openssh-lpk (sshPublicKey) — with
 * MAY lists trimmed to the attribute types defined here, so every name referenced resolves.
 */
import { parseDn } from './dn.ts';
import { makeEntry, type Entry } from './entry.ts';

/** RFC 4512 §4.2: the DN the root DSE and every entry name in subschemaSubentry. */
export const SUBSCHEMA_DN = 'cn=Subschema';

const DIRSTRING = '1.3.6.1.4.1.1466.115.121.1.15';
const IA5 = '1.3.6.1.4.1.1466.115.121.1.26';
const DN = '1.3.6.1.4.1.1466.115.121.1.12';
const OID = '1.3.6.1.4.1.1466.115.121.1.38';
const INTEGER = '1.3.6.1.4.1.1466.115.121.1.27';
const OCTETS = '1.3.6.1.4.1.1466.115.121.1.40';
const TIME = '1.3.6.1.4.1.1466.115.121.1.24';
const STRING_MATCH = 'EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch';
const TIME_MATCH = 'EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch';

export const ATTRIBUTE_TYPES: readonly string[] = [
  // RFC 4512 §3.3, §4.1, §5.1: operational.
  `( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX ${OID} )`,
  `( 2.5.18.1 NAME 'createTimestamp' ${TIME_MATCH} SYNTAX ${TIME} SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )`,
  `( 2.5.18.2 NAME 'modifyTimestamp' ${TIME_MATCH} SYNTAX ${TIME} SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )`,
  `( 2.5.18.10 NAME 'subschemaSubentry' EQUALITY distinguishedNameMatch SYNTAX ${DN} SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )`,
  `( 2.5.21.5 NAME 'attributeTypes' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.3 USAGE directoryOperation )`,
  `( 2.5.21.6 NAME 'objectClasses' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.37 USAGE directoryOperation )`,
  `( 1.3.6.1.4.1.1466.101.120.5 NAME 'namingContexts' SYNTAX ${DN} USAGE dSAOperation )`,
  `( 1.3.6.1.4.1.1466.101.120.7 NAME 'supportedExtension' SYNTAX ${OID} USAGE dSAOperation )`,
  `( 1.3.6.1.4.1.1466.101.120.13 NAME 'supportedControl' SYNTAX ${OID} USAGE dSAOperation )`,
  `( 1.3.6.1.4.1.1466.101.120.15 NAME 'supportedLDAPVersion' SYNTAX ${INTEGER} USAGE dSAOperation )`,
  // RFC 3045, RFC 4530.
  `( 1.3.6.1.1.4 NAME 'vendorName' EQUALITY caseExactIA5Match SYNTAX ${DIRSTRING} SINGLE-VALUE NO-USER-MODIFICATION USAGE dSAOperation )`,
  `( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )`,
  // RFC 4519.
  `( 2.5.4.41 NAME 'name' ${STRING_MATCH} SYNTAX ${DIRSTRING} )`,
  `( 2.5.4.49 NAME 'distinguishedName' EQUALITY distinguishedNameMatch SYNTAX ${DN} )`,
  `( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )`,
  `( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )`,
  `( 2.5.4.42 NAME 'givenName' SUP name )`,
  `( 2.5.4.10 NAME ( 'o' 'organizationName' ) SUP name )`,
  `( 2.5.4.11 NAME ( 'ou' 'organizationalUnitName' ) SUP name )`,
  `( 2.5.4.13 NAME 'description' ${STRING_MATCH} SYNTAX ${DIRSTRING} )`,
  `( 2.5.4.31 NAME 'member' SUP distinguishedName )`,
  `( 2.5.4.35 NAME 'userPassword' EQUALITY octetStringMatch SYNTAX ${OCTETS} )`,
  `( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) ${STRING_MATCH} SYNTAX ${DIRSTRING} )`,
  `( 0.9.2342.19200300.100.1.25 NAME ( 'dc' 'domainComponent' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX ${IA5} SINGLE-VALUE )`,
  // RFC 4524, RFC 2798.
  `( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX ${IA5}{256} )`,
  `( 2.16.840.1.113730.3.1.241 NAME 'displayName' DESC 'RFC2798: preferred name to be used when displaying entries' ${STRING_MATCH} SYNTAX ${DIRSTRING} SINGLE-VALUE )`,
  // RFC 2307(bis).
  `( 1.3.6.1.1.1.1.0 NAME 'uidNumber' DESC 'An integer uniquely identifying a user in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX ${INTEGER} SINGLE-VALUE )`,
  `( 1.3.6.1.1.1.1.1 NAME 'gidNumber' DESC 'An integer uniquely identifying a group in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX ${INTEGER} SINGLE-VALUE )`,
  `( 1.3.6.1.1.1.1.2 NAME 'gecos' DESC 'The GECOS field; the common name' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX ${IA5} SINGLE-VALUE )`,
  `( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' DESC 'The absolute path to the home directory' EQUALITY caseExactIA5Match SYNTAX ${IA5} SINGLE-VALUE )`,
  `( 1.3.6.1.1.1.1.4 NAME 'loginShell' DESC 'The path to the login shell' EQUALITY caseExactIA5Match SYNTAX ${IA5} SINGLE-VALUE )`,
  `( 1.3.6.1.1.1.1.12 NAME 'memberUid' EQUALITY caseExactIA5Match SUBSTR caseExactIA5SubstringsMatch SYNTAX ${IA5} )`,
  // openssh-lpk; memberOf as Active Directory defines it (a user attribute here, see README.md).
  `( 1.3.6.1.4.1.24552.500.1.1.1.13 NAME 'sshPublicKey' DESC 'MANDATORY: OpenSSH Public key' EQUALITY octetStringMatch SYNTAX ${OCTETS} )`,
  `( 1.2.840.113556.1.2.102 NAME 'memberOf' DESC 'Group that the entry belongs to' EQUALITY distinguishedNameMatch SYNTAX ${DN} )`,
];

export const OBJECT_CLASSES: readonly string[] = [
  `( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )`,
  `( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( objectClasses $ attributeTypes ) )`,
  `( 0.9.2342.19200300.100.4.13 NAME 'domain' SUP top STRUCTURAL MUST dc MAY ( userPassword $ description $ o ) )`,
  `( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o MAY ( userPassword $ description ) )`,
  `( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY ( userPassword $ description ) )`,
  `( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ description ) )`,
  `( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ou )`,
  `( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( displayName $ givenName $ mail $ o $ uid ) )`,
  `( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST ( member $ cn ) MAY ( description $ o $ ou ) )`,
  `( 2.5.6.11 NAME 'applicationProcess' SUP top STRUCTURAL MUST cn MAY ( description $ ou ) )`,
  `( 1.3.6.1.1.1.2.0 NAME 'posixAccount' DESC 'Abstraction of an account with POSIX attributes' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( userPassword $ loginShell $ gecos $ description ) )`,
  `( 1.3.6.1.1.1.2.2 NAME 'posixGroup' DESC 'Abstraction of a group of accounts' SUP top AUXILIARY MUST gidNumber MAY ( userPassword $ memberUid $ description ) )`,
  `( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey' DESC 'MANDATORY: OpenSSH LPK objectclass' SUP top AUXILIARY MAY ( sshPublicKey $ uid ) )`,
];

/** The schema is fixed in code: a constant timestamp keeps clients' schema caches valid. */
const EPOCH = '19700101000000Z';

/** The subschema subentry: objectClasses and attributeTypes are operational (returned for '+' or by name). */
export function subschemaEntry(): Entry {
  return makeEntry(SUBSCHEMA_DN, parseDn(SUBSCHEMA_DN) ?? [], 'subschema', { objectClass: ['top', 'subschema'], cn: ['Subschema'] }, {
    objectClasses: [...OBJECT_CLASSES],
    attributeTypes: [...ATTRIBUTE_TYPES],
    createTimestamp: [EPOCH],
    modifyTimestamp: [EPOCH],
  });
}
