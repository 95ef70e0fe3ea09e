/**
 * The directory tree as LDAP shows it, built fresh from the core for every search (so a change made
 * through the admin API shows at the next search):
 *
 *   <baseDn>
 *   ├── ou=people   uid=<username>   inetOrgPerson (+ posixAccount, ldapPublicKey)
 *   └── ou=groups   cn=<name>        groupOfNames (+ posixGroup)
 */
import type { Core } from '../../src/core.ts';
import type { Group, User } from '../../src/directory/model.ts';
import { DN } from '@ldapjs/dn';
import { escapeDnValue, parseDn } from './dn.ts';
import { SUBSCHEMA_DN } from './schema.ts';

export interface Entry {
  dn: string;
  /** Normalized RDNs (see dn.ts). */
  rdns: string[];
  /** User attributes, by their canonical name. */
  attributes: Record<string, string[]>;
  /** Operational attributes (RFC 4512 §3.4): returned only when asked for by name or with '+'. */
  operational: Record<string, string[]>;
  /** What the entry is, for access control. */
  kind: 'base' | 'container' | 'user' | 'group' | 'subschema';
  /** The user's or group's id. */
  id?: string;
}

export interface Tree {
  base: Entry;
  people: Entry;
  groups: Entry;
  users: Entry[];
  groupEntries: Entry[];
  /** Resolved (nested) group ids of every user. */
  groupsOfUser: Map<string, Set<string>>;
  userById: Map<string, User>;
  groupById: Map<string, Group>;
}

export function userDn(username: string, baseDn: string): string {
  return `uid=${escapeDnValue(username)},ou=people,${baseDn}`;
}

export function groupDn(name: string, baseDn: string): string {
  return `cn=${escapeDnValue(name)},ou=groups,${baseDn}`;
}

/** RFC 4517 §3.3.13 GeneralizedTime, UTC, whole seconds. */
export function generalizedTime(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function readTree(core: Core, baseDn: string): Promise<Tree> {
  const dir = core.directory.dir;
  const [users, groups, memberships] = await Promise.all([dir.users.all(), dir.groups.all(), dir.memberships.all()]);
  const userById = new Map(users.map((u) => [u.id, u]));
  const groupById = new Map(groups.map((g) => [g.id, g]));

  // Direct members of each group, then the transitive closure upwards (a member of a nested group
  // is a member of every group containing it), cycle-safe.
  const parentsOfGroup = new Map<string, string[]>();
  const directUserGroups = new Map<string, string[]>();
  const directMembers = new Map<string, Array<{ kind: 'user' | 'group'; id: string }>>();
  for (const m of memberships) {
    (directMembers.get(m.groupId) ?? directMembers.set(m.groupId, []).get(m.groupId)!).push({ kind: m.kind, id: m.memberId });
    const index = m.kind === 'user' ? directUserGroups : parentsOfGroup;
    (index.get(m.memberId) ?? index.set(m.memberId, []).get(m.memberId)!).push(m.groupId);
  }
  const groupsOfUser = new Map<string, Set<string>>();
  for (const user of users) {
    const seen = new Set<string>();
    const queue = [...(directUserGroups.get(user.id) ?? [])];
    while (queue.length) {
      const id = queue.pop()!;
      if (seen.has(id) || !groupById.has(id)) continue;
      seen.add(id);
      queue.push(...(parentsOfGroup.get(id) ?? []));
    }
    groupsOfUser.set(user.id, seen);
  }
  const usersOfGroup = new Map<string, string[]>();
  for (const [userId, ids] of groupsOfUser) for (const id of ids) (usersOfGroup.get(id) ?? usersOfGroup.set(id, []).get(id)!).push(userId);

  const base = baseEntry(baseDn);
  const people = container('people', baseDn);
  const groupsOu = container('groups', baseDn);
  return {
    base,
    people,
    groups: groupsOu,
    users: users.map((u) => userEntry(u, baseDn, [...(groupsOfUser.get(u.id) ?? [])].map((id) => groupById.get(id)!))),
    groupEntries: groups.map((g) =>
      groupEntry(
        g,
        baseDn,
        (directMembers.get(g.id) ?? []).flatMap((m) => {
          const name = m.kind === 'user' ? userById.get(m.id)?.username : groupById.get(m.id)?.name;
          return name === undefined ? [] : [m.kind === 'user' ? userDn(name, baseDn) : groupDn(name, baseDn)];
        }),
        (usersOfGroup.get(g.id) ?? []).map((id) => userById.get(id)!.username),
      ),
    ),
    groupsOfUser,
    userById,
    groupById,
  };
}

function entry(dn: string, kind: Entry['kind'], attributes: Record<string, string[]>, operational: Record<string, string[]> = {}, id?: string): Entry {
  // RFC 4512 §4.2: every entry names the subschema subentry that governs it.
  return { dn, rdns: parseDn(dn) ?? [], kind, attributes, operational: { ...operational, subschemaSubentry: [SUBSCHEMA_DN] }, ...(id ? { id } : {}) };
}

function baseEntry(baseDn: string): Entry {
  const rdn = DN.fromString(baseDn).rdnAt(0);
  const key = [...rdn.keys()][0] ?? 'dc';
  const attr = key.toLowerCase();
  const objectClass = attr === 'dc' ? ['top', 'domain'] : attr === 'o' ? ['top', 'organization'] : ['top', 'organizationalUnit'];
  return entry(baseDn, 'base', { objectClass, [attr]: [String(rdn.getValue(key) ?? '')] });
}

function container(ou: 'people' | 'groups', baseDn: string): Entry {
  return entry(`ou=${ou},${baseDn}`, 'container', { objectClass: ['top', 'organizationalUnit'], ou: [ou] });
}

/** sn and givenName when the display name allows it (inetOrgPerson requires sn). */
function names(user: User): { givenName?: string; sn: string } {
  const given = user.attributes.givenName;
  const surname = user.attributes.sn;
  if (typeof surname === 'string') return { sn: surname, ...(typeof given === 'string' ? { givenName: given } : {}) };
  const parts = (user.displayName ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length >= 2) return { givenName: parts.slice(0, -1).join(' '), sn: parts[parts.length - 1]! };
  return { sn: parts[0] ?? user.username };
}

function userEntry(user: User, baseDn: string, groups: Group[]): Entry {
  const objectClass = ['top', 'person', 'organizationalPerson', 'inetOrgPerson'];
  if (user.uidNumber !== undefined) objectClass.push('posixAccount');
  if (user.sshPublicKeys.length) objectClass.push('ldapPublicKey');
  const { givenName, sn } = names(user);
  const attrs: Record<string, string[]> = {
    objectClass,
    uid: [user.username],
    cn: [user.displayName ?? user.username],
    sn: [sn],
  };
  if (givenName) attrs.givenName = [givenName];
  if (user.email) attrs.mail = [user.email];
  if (user.displayName) attrs.displayName = [user.displayName];
  if (user.uidNumber !== undefined) attrs.uidNumber = [String(user.uidNumber)];
  if (user.gidNumber !== undefined) attrs.gidNumber = [String(user.gidNumber)];
  // posixAccount requires homeDirectory: a conventional default when none is set.
  if (user.homeDirectory) attrs.homeDirectory = [user.homeDirectory];
  else if (user.uidNumber !== undefined) attrs.homeDirectory = [`/home/${user.username}`];
  if (user.loginShell) attrs.loginShell = [user.loginShell];
  if (user.sshPublicKeys.length) attrs.sshPublicKey = [...user.sshPublicKeys];
  if (groups.length) attrs.memberOf = groups.map((g) => groupDn(g.name, baseDn)).sort();
  return entry(userDn(user.username, baseDn), 'user', attrs, timestamps(user), user.id);
}

function groupEntry(group: Group, baseDn: string, members: string[], memberUids: string[]): Entry {
  const objectClass = ['top', 'groupOfNames'];
  if (group.gidNumber !== undefined) objectClass.push('posixGroup');
  const attrs: Record<string, string[]> = { objectClass, cn: [group.name] };
  if (group.description) attrs.description = [group.description];
  // groupOfNames requires at least one member (RFC 4519 §3.5); an empty group has none to show.
  if (members.length) attrs.member = members.sort();
  if (group.gidNumber !== undefined) {
    attrs.gidNumber = [String(group.gidNumber)];
    if (memberUids.length) attrs.memberUid = memberUids.sort();
  }
  return entry(groupDn(group.name, baseDn), 'group', attrs, timestamps(group), group.id);
}

function timestamps(object: { id: string; createdAt: string; updatedAt: string }): Record<string, string[]> {
  return { entryUUID: [object.id], createTimestamp: [generalizedTime(object.createdAt)], modifyTimestamp: [generalizedTime(object.updatedAt)] };
}
