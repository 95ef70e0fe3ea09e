/** Groups and their members (users and nested groups), each change audited in its transaction. */
import type { AuditContext } from '../audit/audit.ts';
import { NotFoundError } from '../errors.ts';
import type { ListQuery, Page } from '../store/types.ts';
import { applyPatch, changedFields, DirectoryPart, findByRef, forcedDetail, groupTarget, stripBookkeeping, whenForced, type WriteOptions } from './common.ts';
import type { Group, GroupInput, GroupPatch, Member, MemberKind, User } from './model.ts';
import { assertUnreferenced } from './references.ts';
import type { z } from 'zod';

const memberName = (m: User | Group) => ('username' in m ? m.username : m.name);
const named = (group: { name: string }) => `group '${group.name}'`;

export class Groups extends DirectoryPart {
  /** A group by id or name. @throws NotFoundError */
  find(ref: string): Promise<Group> {
    return findByRef(this.dir.groups, ref, 'group');
  }

  list(query: ListQuery = {}): Promise<Page<Group>> {
    return this.dir.groups.list(query);
  }

  /** The direct members of a group. */
  async members(ref: string): Promise<Member[]> {
    const group = await this.find(ref);
    return this.dir.memberships.members(group.id);
  }

  async create(ctx: AuditContext, input: z.output<typeof GroupInput>, options: WriteOptions = {}): Promise<Group> {
    return this.change(ctx, async (tx, emit) => {
      const group = await tx.groups.create(input, options.managedBy);
      await emit({ type: 'group.created', outcome: 'success', target: groupTarget(group), details: { object: group } });
      return group;
    });
  }

  /** A declared group is the reconciler's to change (WriteOptions.force overrides). @throws ManagedByConfigError */
  async update(ctx: AuditContext, ref: string, patch: GroupPatch, options: WriteOptions = {}): Promise<Group> {
    const group = await this.find(ref);
    // A patch that changes nothing undoes nothing: let it through.
    const forced = changedFields(group, applyPatch(group, patch)).length ? this.declared.check(ctx, group.managedBy, named(group), 'change', options) : false;
    return this.change(ctx, async (tx, emit) => {
      if (patch.name !== undefined && patch.name !== group.name) await assertUnreferenced(tx, 'group', group.name, 'renamed');
      const updated = await tx.groups.update(group.id, (current) => applyPatch(stripBookkeeping(current), patch), options);
      const changed = changedFields(group, updated);
      if (changed.length) await emit({ type: 'group.updated', outcome: 'success', target: groupTarget(updated), details: { changed, ...forcedDetail(forced) } });
      return updated;
    });
  }

  /** @throws ManagedByConfigError for a declared group (WriteOptions.force overrides) */
  async delete(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<Group> {
    const group = await this.find(ref);
    const forced = this.declared.check(ctx, group.managedBy, named(group), 'delete', options);
    return this.change(ctx, async (tx, emit) => {
      await assertUnreferenced(tx, 'group', group.name, 'deleted');
      const gone = await tx.groups.delete(group.id, options);
      await emit({ type: 'group.deleted', outcome: 'success', target: groupTarget(gone), ...whenForced(forced) });
      return gone;
    });
  }

  /**
   * Adds a direct member; `options.managedBy` says who manages the membership (the reconciler
   * adds the file's as 'config'). A membership added through the API is the API's, in a declared
   * group too: the reconciler leaves it alone.
   */
  async addMember(ctx: AuditContext, groupRef: string, kind: MemberKind, memberRef: string, options: WriteOptions = {}): Promise<void> {
    const group = await this.find(groupRef);
    const member = await this.member(kind, memberRef);
    await this.change(ctx, async (tx, emit) => {
      await tx.memberships.add(group.id, kind, member.id, options.managedBy ?? 'api');
      await emit({ type: 'group.member.added', outcome: 'success', target: groupTarget(group), details: { member: memberName(member), memberKind: kind } });
    });
  }

  /** A membership the file declares is the reconciler's to remove (WriteOptions.force overrides). @throws ManagedByConfigError */
  async removeMember(ctx: AuditContext, groupRef: string, kind: MemberKind, memberRef: string, options: WriteOptions = {}): Promise<void> {
    const group = await this.find(groupRef);
    const member = await this.member(kind, memberRef);
    await this.change(ctx, async (tx, emit) => {
      const membership = (await tx.memberships.members(group.id)).find((m) => m.kind === kind && m.id === member.id);
      if (!membership) throw new NotFoundError('membership', `${memberName(member)} in ${group.name}`);
      const forced = this.declared.check(ctx, membership.managedBy, `the membership of ${kind} '${memberName(member)}' in ${named(group)}`, 'remove', options);
      if (!(await tx.memberships.remove(group.id, kind, member.id))) throw new NotFoundError('membership', `${memberName(member)} in ${group.name}`);
      await emit({ type: 'group.member.removed', outcome: 'success', target: groupTarget(group), details: { member: memberName(member), memberKind: kind, ...forcedDetail(forced) } });
    });
  }

  private member(kind: MemberKind, ref: string): Promise<User | Group> {
    return kind === 'user' ? findByRef(this.dir.users, ref, 'user') : this.find(ref);
  }
}
