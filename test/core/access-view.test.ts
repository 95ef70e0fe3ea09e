/**
 * The access view (src/access/view.ts): the policies, networks and resources a decision reads are
 * read once for many decisions, a change made in this process applies to the very next decision,
 * and one made by another process on the same store within a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core.ts';
import type { AuditEvent, User } from '../../src/directory/model.ts';
import { createLogger } from '../../src/log.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import { openStore, type KnexStore } from '../../src/store/open.ts';
import { AccessViewCache } from '../../src/access/view.ts';
import type { DirectoryStore } from '../../src/store/types.ts';
import { backends } from '../helpers/backends.ts';
import { TEST_SECRET_KEY } from '../helpers/config.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const ctx = { actor: { type: 'system' as const } };
const VIEW_TABLES = /\bfrom [`"]?(policies|networks|applications|radius_clients)\b/;

describe.each(backends)('access view ($name)', (backend) => {
  let t: TestCore;
  let alice: User;
  /** Statements that read the view's tables, as knex reports them. */
  let viewReads = 0;
  const countReads = (q: { sql: string }) => {
    if (VIEW_TABLES.test(q.sql)) viewReads++;
  };

  beforeAll(async () => {
    t = await coreFor(backend);
    t.store.knex.on('query', countReads);
    const d = t.core.directory;
    await d.groups.create(CLI_CTX, { name: 'vpn-users', attributes: {} });
    await d.groups.create(CLI_CTX, { name: 'staff', attributes: {} });
    alice = await d.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    await d.resources.create(CLI_CTX, 'networks', { name: 'office', cidrs: ['192.168.10.0/24'], risky: false });
    await d.resources.create(CLI_CTX, 'applications', { name: 'wiki', type: 'generic', groups: ['vpn-users'], settings: {} });
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '10.0.0.1/32', secret: 'a-radius-secret-of-some-length', groups: ['vpn-users'], settings: {} });
  });
  afterAll(async () => t?.cleanup());

  const decide = (resource: string, clientIp = '192.168.10.7') => t.core.access.decide(ctx, { user: alice, resource, protocol: resource.startsWith('radius:') ? 'radius' : 'oidc', clientIp });

  it('reads policies, networks and resources once for many decisions', async () => {
    await decide('radius:vpn');
    viewReads = 0;
    for (let i = 0; i < 5; i++) {
      const { request, decision } = await decide(i % 2 ? 'radius:vpn' : 'app:wiki');
      expect(decision.action).toBe('allow');
      expect(request?.networks).toEqual(['office']);
      expect(request?.resource).toMatchObject({ exists: true, assignedGroups: ['vpn-users'] });
    }
    expect(viewReads).toBe(0);
  });

  it('applies a change made in this process to the next decision', async () => {
    const d = t.core.directory;
    await decide('radius:vpn');
    // A policy.
    const policy = await d.resources.create(CLI_CTX, 'policies', { name: 'no-vpn', enabled: true, users: { exclude: [] }, resources: { include: ['radius:vpn'] }, conditions: {}, action: 'deny' });
    expect((await decide('radius:vpn')).decision).toMatchObject({ action: 'deny', reasons: [{ code: 'policy_deny', policy: 'no-vpn' }] });
    await d.resources.delete(CLI_CTX, 'policies', policy.id);
    expect((await decide('radius:vpn')).decision.action).toBe('allow');
    // A network's ranges.
    await d.resources.update(CLI_CTX, 'networks', 'office', { cidrs: ['172.16.0.0/12'] });
    expect((await decide('radius:vpn')).request?.networks).toEqual([]);
    expect((await decide('radius:vpn', '172.16.3.4')).request?.networks).toEqual(['office']);
    // The groups a RADIUS client is assigned to, and a rename of one of them.
    await d.resources.update(CLI_CTX, 'radiusClients', 'vpn', { groups: ['staff'] });
    expect((await decide('radius:vpn')).decision).toMatchObject({ action: 'deny', reasons: [{ code: 'not_assigned' }] });
    await d.groups.update(CLI_CTX, 'staff', { name: 'employees' });
    expect((await decide('radius:vpn')).request?.resource).toMatchObject({ assignedGroups: ['employees'] });
    await d.resources.update(CLI_CTX, 'radiusClients', 'vpn', { groups: ['vpn-users'] });
    expect((await decide('radius:vpn')).decision.action).toBe('allow');
  });

  it('shows a change made by another process within a second', async () => {
    // Another Gatehouse process on the same store: its own connection, core and audit listeners.
    const other: KnexStore = await openStore(t.config.storage.url);
    const otherCore = createCore(t.config, other, new Keyring([{ id: 'test', key: TEST_SECRET_KEY }]), createLogger('silent'));
    try {
      expect((await decide('app:wiki')).decision.action).toBe('allow');
      await otherCore.directory.resources.create(CLI_CTX, 'policies', { name: 'wiki-closed', enabled: true, users: { exclude: [] }, resources: { include: ['app:wiki'] }, conditions: {}, action: 'deny' });
      const changedAt = performance.now();
      let action = 'allow';
      while (action === 'allow' && performance.now() - changedAt < 3000) {
        action = (await decide('app:wiki')).decision.action;
        if (action === 'allow') await new Promise((r) => setTimeout(r, 50));
      }
      expect(action).toBe('deny');
      // Within a second of the change, and a little for the read that shows it.
      expect(performance.now() - changedAt).toBeLessThan(1500);
    } finally {
      await other.close();
    }
  });
});

describe('access view reads', () => {
  /** A directory store whose view reads are answered when the test says so. */
  function slowDirectory() {
    const pending: Array<() => void> = [];
    let policies = [{ name: 'old' }];
    const later = <T>(value: () => T) => new Promise<T>((resolve) => pending.push(() => resolve(value())));
    const dir = {
      policies: { all: () => later(() => policies) },
      networks: { all: () => later(() => []) },
      applications: { all: () => later(() => []) },
      radiusClients: { all: () => later(() => []) },
    } as unknown as DirectoryStore;
    return { dir, answer: () => pending.splice(0).forEach((f) => f()), set: (names: string[]) => (policies = names.map((name) => ({ name }))) };
  }
  function auditor() {
    const listeners: Array<(e: AuditEvent) => void> = [];
    return { onEvent: (l: (e: AuditEvent) => void) => (listeners.push(l), () => undefined), emit: (type: string) => listeners.forEach((l) => l({ type } as AuditEvent)) };
  }

  it('does not keep a read that began before a change in this process', async () => {
    const store = slowDirectory();
    const events = auditor();
    const view = new AccessViewCache(store.dir, events);
    const first = view.get();
    // The change commits while the first read is under way, and announces itself.
    store.set(['new']);
    events.emit('policy.created');
    store.answer();
    await first;
    const second = view.get();
    store.answer();
    expect((await second).policies).toEqual([{ name: 'new' }]);
  });

  it('ignores events of what it does not hold', async () => {
    const store = slowDirectory();
    const events = auditor();
    const view = new AccessViewCache(store.dir, events);
    const first = view.get();
    store.answer();
    const held = await first;
    for (const type of ['access.decision', 'authn.password', 'group.member.added', 'user.updated']) events.emit(type);
    expect(await view.get()).toBe(held);
    events.emit('radius_client.updated');
    const again = view.get();
    store.answer();
    expect(await again).not.toBe(held);
  });

  it('keeps no view a failed read returned', async () => {
    let fail = true;
    const dir = {
      policies: { all: async () => (fail ? Promise.reject(new Error('store down')) : []) },
      networks: { all: async () => [] },
      applications: { all: async () => [] },
      radiusClients: { all: async () => [] },
    } as unknown as DirectoryStore;
    const view = new AccessViewCache(dir, auditor());
    await expect(view.get()).rejects.toThrow('store down');
    fail = false;
    expect((await view.get()).policies).toEqual([]);
  });
});
