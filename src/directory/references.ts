/**
 * Policies name groups, networks, applications and RADIUS clients: a policy naming something that
 * does not exist would silently apply to nobody (or everybody), and renaming or deleting something
 * a policy names would do the same. Both are refused.
 */
import { ConflictError } from '../errors.ts';
import type { Collection, DirectoryStore, Fields } from '../store/types.ts';
import { ValidationError } from './common.ts';
import type { Policy } from './model.ts';

export type ReferencedKind = 'group' | 'network' | 'app' | 'radius';

/** @throws ValidationError naming every reference to something that does not exist */
export async function assertPolicyReferences(tx: DirectoryStore, policy: Fields<Policy>): Promise<void> {
  const problems: Array<{ path: string; code: string; message: string }> = [];
  const check = async (path: string, names: string[] | undefined, collection: Collection<{ id: string }>, label: string) => {
    for (const [i, name] of (names ?? []).entries()) {
      if (!(await collection.findByName(name))) problems.push({ path: `${path}[${i}]`, code: 'unknown_reference', message: `${label} '${name}' does not exist` });
    }
  };
  await check('users.groups', policy.users.groups, tx.groups, 'group');
  await check('users.exclude', policy.users.exclude, tx.groups, 'group');
  await check('conditions.network.in', policy.conditions.network?.in, tx.networks, 'network');
  await check('conditions.network.notIn', policy.conditions.network?.notIn, tx.networks, 'network');
  await check('except.network.in', policy.except?.network?.in, tx.networks, 'network');
  await check('except.network.notIn', policy.except?.network?.notIn, tx.networks, 'network');
  for (const [i, ref] of (policy.resources.include ?? []).entries()) {
    const [type, name] = ref.split(':') as [string, string | undefined];
    if (name === undefined) continue;
    const collection = type === 'app' ? tx.applications : tx.radiusClients;
    if (!(await collection.findByName(name))) problems.push({ path: `resources.include[${i}]`, code: 'unknown_reference', message: `${type === 'app' ? 'application' : 'RADIUS client'} '${name}' does not exist` });
  }
  if (policy.action !== 'mfa' && policy.methods) problems.push({ path: 'methods', code: 'invalid', message: "methods only apply to action 'mfa'" });
  if (problems.length) throw new ValidationError(problems);
}

/** Refuses to rename or delete an object a policy refers to by name. @throws ConflictError */
export async function assertUnreferenced(tx: DirectoryStore, kind: ReferencedKind, name: string, action: string): Promise<void> {
  for (const policy of await tx.policies.all()) {
    const refs =
      kind === 'group' ? [...(policy.users.groups ?? []), ...policy.users.exclude]
      : kind === 'network' ? [policy.conditions, policy.except].flatMap((c) => [...(c?.network?.in ?? []), ...(c?.network?.notIn ?? [])])
      : (policy.resources.include ?? []).filter((r) => r.startsWith(`${kind}:`)).map((r) => r.slice(kind.length + 1));
    if (refs.includes(name)) {
      const label = kind === 'group' ? 'group' : kind === 'network' ? 'network' : kind === 'app' ? 'application' : 'RADIUS client';
      throw new ConflictError(`${label} '${name}' cannot be ${action}: policy '${policy.name}' refers to it`);
    }
  }
}
