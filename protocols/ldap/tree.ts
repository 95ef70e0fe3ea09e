/**
 * The directory tree as LDAP shows it, built from the core as one immutable snapshot (cache.ts
 * decides when to build a new one):
 *
 *   <baseDn>
 *   ├── ou=people    uid=<username>   inetOrgPerson (+ posixAccount, ldapPublicKey)
 *   ├── ou=groups    cn=<name>        groupOfNames (+ posixGroup)
 *   └── ou=services  cn=<app>         applicationProcess (service accounts, services.ts)
 *
 * Entries are kept in DN order, parents first, so a subtree is one contiguous run; equality
 * indexes and whatever searches derive per snapshot (visibility, encoded entries) are built on
 * first use and live as long as the snapshot.
 */
import type { Core } from '../../src/core.ts';
import type { Application, Group, User } from '../../src/directory/model.ts';
import type { Logger } from '../../src/log.ts';
import { DN } from '@ldapjs/dn';
import { escapeDnValue, parseDn } from './dn.ts';
import { makeEntry, type Entry, type EntryKind } from './entry.ts';
import { normalizeValue } from './matching.ts';
import { SUBSCHEMA_DN } from './schema.ts';
import { serviceAccountOf, type ServiceAccount } from './services.ts';

export type { Entry } from './entry.ts';

export interface Tree {
  baseDn: string;
  base: Entry;
  people: Entry;
  groups: Entry;
  services: Entry;
  /** Every entry but the root DSE and the subschema, parents first, by `order`. */
  ordered: readonly Entry[];
  /** The position of each entry in `ordered`, by its order key. */
  position: ReadonlyMap<string, number>;
  /** The entries right below each entry, in order, by the parent's order key. */
  children: ReadonlyMap<string, readonly Entry[]>;
  /** Resolved (nested) group ids of every user. */
  groupsOfUser: ReadonlyMap<string, ReadonlySet<string>>;
  userById: ReadonlyMap<string, User>;
  groupById: ReadonlyMap<string, Group>;
  groupByName: ReadonlyMap<string, Group>;
  /** Service accounts by application name. */
  serviceByName: ReadonlyMap<string, ServiceAccount>;
  /** The entry of a user, group or service account, by its id. */
  entryById: ReadonlyMap<string, Entry>;
  /** Entries by normalized value of `attribute` (an equality index, built on first use). */
  index(attribute: string): ReadonlyMap<string, readonly Entry[]>;
  /** Things searches derive from this snapshot and keep while it is current (search.ts). */
  readonly memo: Map<string, unknown>;
}

export function userDn(username: string, baseDn: string): string {
  return `uid=${escapeDnValue(username)},ou=people,${baseDn}`;
}

export function groupDn(name: string, baseDn: string): string {
  return `cn=${escapeDnValue(name)},ou=groups,${baseDn}`;
}

export function serviceDn(name: string, baseDn: string): string {
  return `cn=${escapeDnValue(name)},ou=services,${baseDn}`;
}

/** RFC 4517 §3.3.13 GeneralizedTime, UTC, whole seconds. */
export function generalizedTime(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Reads the directory (the core's snapshot feed) and builds the tree. */
export async function readTree(core: Core, baseDn: string, log?: Logger): Promise<Tree> {
  const { users, groups, memberships, applications } = await core.directory.changes.snapshot();
  return buildTree(baseDn, users, groups, memberships, applications, log);
}

export function buildTree(
  baseDn: string,
  users: readonly User[],
  groups: readonly Group[],
  memberships: ReadonlyArray<{ groupId: string; kind: 'user' | 'group'; memberId: string }>,
  applications: readonly Application[],
  log?: Logger,
): Tree {
  const userById = new Map(users.map((u) => [u.id, u]));
  const groupById = new Map(groups.map((g) => [g.id, g]));

  // Direct members of each group, then the transitive closure upwards (a member of a nested group
  // is a member of every group containing it), cycle-safe.
  const parentsOfGroup = new Map<string, string[]>();
  const directUserGroups = new Map<string, string[]>();
  const directMembers = new Map<string, Array<{ kind: 'user' | 'group'; id: string }>>();
  const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  for (const m of memberships) {
    push(directMembers, m.groupId, { kind: m.kind, id: m.memberId });
    push(m.kind === 'user' ? directUserGroups : parentsOfGroup, m.memberId, m.groupId);
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
  for (const [userId, ids] of groupsOfUser) for (const id of ids) push(usersOfGroup, id, userId);

  const serviceByName = new Map<string, ServiceAccount>();
  for (const app of applications) {
    const account = serviceAccountOf(app);
    if (!account) continue;
    if ('problem' in account) {
      log?.warn({ application: app.name }, `application '${app.name}' is not an LDAP service account: ${account.problem}`);
      continue;
    }
    serviceByName.set(app.name, account);
  }

  const baseRdns = parseDn(baseDn) ?? [];
  const base = baseEntry(baseDn, baseRdns);
  const people = container('people', baseDn, baseRdns);
  const groupsOu = container('groups', baseDn, baseRdns);
  const services = container('services', baseDn, baseRdns);
  const groupEntryOf = (g: Group) =>
    groupEntry(
      g,
      baseDn,
      baseRdns,
      (directMembers.get(g.id) ?? []).flatMap((m) => {
        const name = m.kind === 'user' ? userById.get(m.id)?.username : groupById.get(m.id)?.name;
        return name === undefined ? [] : [m.kind === 'user' ? userDn(name, baseDn) : groupDn(name, baseDn)];
      }),
      (usersOfGroup.get(g.id) ?? []).map((id) => userById.get(id)!.username),
    );
  const entries: Entry[] = [
    base, people, groupsOu, services,
    ...users.map((u) => userEntry(u, baseDn, baseRdns, [...(groupsOfUser.get(u.id) ?? [])].map((id) => groupById.get(id)!))),
    ...groups.map(groupEntryOf),
    ...[...serviceByName.values()].map((s) => serviceEntry(s, applications.find((a) => a.id === s.id)!, baseDn, baseRdns)),
  ];
  const ordered = entries.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  const position = new Map(ordered.map((e, i) => [e.order, i]));
  const children = new Map<string, Entry[]>();
  for (const e of ordered) if (e !== base) push(children, e.order.slice(0, e.order.lastIndexOf('\u0000')), e);
  const entryById = new Map(ordered.flatMap((e) => (e.id ? [[e.id, e] as const] : [])));
  const indexes = new Map<string, Map<string, Entry[]>>();
  return {
    baseDn,
    base,
    people,
    groups: groupsOu,
    services,
    ordered,
    position,
    children,
    groupsOfUser,
    userById,
    groupById,
    groupByName: new Map(groups.map((g) => [g.name, g])),
    serviceByName,
    entryById,
    index(attribute) {
      let index = indexes.get(attribute);
      if (!index) {
        index = new Map();
        for (const entry of ordered) {
          for (const value of entry.values.get(attribute) ?? []) {
            const key = normalizeValue(attribute, value);
            if (key !== undefined) push(index, key, entry);
          }
        }
        indexes.set(attribute, index);
      }
      return index;
    },
    memo: new Map(),
  };
}

function entry(dn: string, rdns: string[], kind: EntryKind, attributes: Record<string, string[]>, operational: Record<string, string[]> = {}, id?: string): Entry {
  // RFC 4512 §4.2: every entry names the subschema subentry that governs it.
  return makeEntry(dn, rdns, kind, attributes, { ...operational, subschemaSubentry: [SUBSCHEMA_DN] }, id);
}

/** The RDNs of an entry named by `attr=value` right under `parent` (no DN parsing: value as stored, lower-cased like dn.ts does). */
const under = (attr: string, value: string, parent: string[]) => [`${attr}=${value.toLowerCase()}`, ...parent];

function baseEntry(baseDn: string, baseRdns: string[]): Entry {
  const rdn = DN.fromString(baseDn).rdnAt(0);
  const key = [...rdn.keys()][0] ?? 'dc';
  const attr = key.toLowerCase();
  const objectClass = attr === 'dc' ? ['top', 'domain'] : attr === 'o' ? ['top', 'organization'] : ['top', 'organizationalUnit'];
  return entry(baseDn, baseRdns, 'base', { objectClass, [attr]: [String(rdn.getValue(key) ?? '')] });
}

function container(ou: 'people' | 'groups' | 'services', baseDn: string, baseRdns: string[]): Entry {
  return entry(`ou=${ou},${baseDn}`, under('ou', ou, baseRdns), 'container', { objectClass: ['top', 'organizationalUnit'], ou: [ou] });
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

function userEntry(user: User, baseDn: string, baseRdns: string[], groups: Group[]): Entry {
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
  return entry(userDn(user.username, baseDn), under('uid', user.username, under('ou', 'people', baseRdns)), 'user', attrs, timestamps(user), user.id);
}

function groupEntry(group: Group, baseDn: string, baseRdns: string[], members: string[], memberUids: string[]): Entry {
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
  return entry(groupDn(group.name, baseDn), under('cn', group.name, under('ou', 'groups', baseRdns)), 'group', attrs, timestamps(group), group.id);
}

/** RFC 4519 §3.2 applicationProcess: the name and what the application is; never its secret. */
function serviceEntry(account: ServiceAccount, app: Application, baseDn: string, baseRdns: string[]): Entry {
  const attrs: Record<string, string[]> = { objectClass: ['top', 'applicationProcess'], cn: [account.name] };
  const description = app.description ?? app.displayName;
  if (description) attrs.description = [description];
  return entry(serviceDn(account.name, baseDn), under('cn', account.name, under('ou', 'services', baseRdns)), 'service', attrs, timestamps(app), app.id);
}

function timestamps(object: { id: string; createdAt: string; updatedAt: string }): Record<string, string[]> {
  return { entryUUID: [object.id], createTimestamp: [generalizedTime(object.createdAt)], modifyTimestamp: [generalizedTime(object.updatedAt)] };
}
