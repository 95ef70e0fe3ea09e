/**
 * The store conformance suite: every backend must pass it unchanged. Transactions and concurrency
 * have their own sections, as in dex's storage/conformance.
 */
import { namespacedTtl } from '../../src/store/namespaced.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountingRecord, Fields, ListQuery, Store } from '../../src/store/types.ts';
import type { KnexStore } from '../../src/store/open.ts';
import type { User } from '../../src/directory/model.ts';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../src/errors.ts';
import { freshStore, type Backend } from '../helpers/backends.ts';

const user = (username: string, extra: Partial<Fields<User>> = {}): Fields<User> => ({
  username, status: 'active', sshPublicKeys: [], attributes: {}, ...extra,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeConformance(backend: Backend): void {
  describe(`store conformance: ${backend.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await freshStore(backend));
    });
    afterAll(async () => cleanup?.());

    describe('collections', () => {
      it('creates, reads, updates and deletes a user', async () => {
        const created = await store.directory.users.create(user('crud', { email: 'crud@example.com', uidNumber: 5001, attributes: { team: 'ops' } }));
        expect(created).toMatchObject({ username: 'crud', email: 'crud@example.com', uidNumber: 5001, version: 1, managedBy: 'api', attributes: { team: 'ops' } });
        expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(await store.directory.users.get(created.id)).toEqual(created);
        expect(await store.directory.users.findByName('crud')).toEqual(created);
        const updated = await store.directory.users.update(created.id, (u) => ({ ...u, displayName: 'Crud User' }));
        expect(updated).toMatchObject({ displayName: 'Crud User', version: 2 });
        expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
        const deleted = await store.directory.users.delete(created.id);
        expect(deleted.id).toBe(created.id);
        await expect(store.directory.users.get(created.id)).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.directory.users.findByName('crud')).toBeUndefined();
      });

      it('raises typed errors: not found, already exists (naming the field), stale version', async () => {
        await expect(store.directory.users.get('00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.directory.users.update('00000000-0000-0000-0000-000000000000', (u) => u)).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.directory.users.delete('00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
        const a = await store.directory.users.create(user('dup-a', { email: 'dup@example.com', uidNumber: 7001 }));
        await expect(store.directory.users.create(user('dup-a'))).rejects.toThrow(/username 'dup-a' already exists/);
        await expect(store.directory.users.create(user('dup-b', { email: 'dup@example.com' }))).rejects.toThrow(/email 'dup@example.com' already exists/);
        await expect(store.directory.users.create(user('dup-c', { uidNumber: 7001 }))).rejects.toBeInstanceOf(AlreadyExistsError);
        const b = await store.directory.users.create(user('dup-d'));
        await expect(store.directory.users.update(b.id, (u) => ({ ...u, username: 'dup-a' }))).rejects.toBeInstanceOf(AlreadyExistsError);
        expect((await store.directory.users.get(b.id)).username).toBe('dup-d');
        await expect(store.directory.users.update(a.id, (u) => u, { expectVersion: 99 })).rejects.toSatisfy((e) => e instanceof ConflictError && e.reason === 'stale');
        await expect(store.directory.users.delete(a.id, { expectVersion: 2 })).rejects.toBeInstanceOf(ConflictError);
        expect((await store.directory.users.update(a.id, (u) => u, { expectVersion: 1 })).version).toBe(2);
      });

      it('lists in name order with cursor pagination, prefix search and filters', async () => {
        for (const name of ['page-c', 'page-a', 'page-e', 'page-b', 'page-d']) {
          await store.directory.users.create(user(name, { email: `${name}@list.example`, status: name === 'page-d' ? 'suspended' : 'active' }));
        }
        const first = await store.directory.users.list({ q: 'page-', limit: 2 });
        expect(first.items.map((u) => u.username)).toEqual(['page-a', 'page-b']);
        const second = await store.directory.users.list({ q: 'page-', limit: 2, after: first.next! });
        expect(second.items.map((u) => u.username)).toEqual(['page-c', 'page-d']);
        const third = await store.directory.users.list({ q: 'page-', limit: 2, after: second.next! });
        expect(third.items.map((u) => u.username)).toEqual(['page-e']);
        expect(third.next).toBeUndefined();
        expect((await store.directory.users.list({ q: 'PAGE-D@' })).items.map((u) => u.username)).toEqual(['page-d']);
        expect((await store.directory.users.list({ q: 'page-', where: { status: 'suspended' } })).items.map((u) => u.username)).toEqual(['page-d']);
        // LIKE wildcards in the search text are literal.
        expect((await store.directory.users.list({ q: 'page_' })).items).toEqual([]);
        expect((await store.directory.users.list({ q: '%' })).items).toEqual([]);
        await expect(store.directory.users.list({ after: 'garbage' })).rejects.toThrow(/cursor/);
        await expect(store.directory.users.list({ limit: 0 })).rejects.toThrow(/limit/);
      });

      it('keeps links to groups and owners in join tables, refusing unknown names atomically', async () => {
        const eng = await store.directory.groups.create({ name: 'link-eng', attributes: {} });
        await store.directory.groups.create({ name: 'link-ops', attributes: {} });
        const app = await store.directory.applications.create({ name: 'link-app', type: 'generic', groups: ['link-ops', 'link-eng'], settings: {} });
        expect(app.groups).toEqual(['link-eng', 'link-ops']);
        await expect(store.directory.applications.create({ name: 'link-bad', type: 'generic', groups: ['link-eng', 'nope'], settings: {} })).rejects.toThrow(/group 'nope' not found/);
        expect(await store.directory.applications.findByName('link-bad')).toBeUndefined();
        await expect(store.directory.applications.update(app.id, (a) => ({ ...a, groups: ['nope'] }))).rejects.toBeInstanceOf(NotFoundError);
        expect((await store.directory.applications.get(app.id)).groups).toEqual(['link-eng', 'link-ops']);
        // Renaming a group shows through; deleting it removes the assignment.
        await store.directory.groups.update(eng.id, (g) => ({ ...g, name: 'link-engineering' }));
        expect((await store.directory.applications.get(app.id)).groups).toEqual(['link-engineering', 'link-ops']);
        await store.directory.groups.delete(eng.id);
        expect((await store.directory.applications.get(app.id)).groups).toEqual(['link-ops']);

        const owner = await store.directory.users.create(user('link-owner'));
        const device = await store.directory.devices.create({ name: 'Laptop', owners: ['link-owner'], platform: 'linux', managed: true, posture: {}, attributes: {}, serial: 'SN1' });
        expect(device.owners).toEqual(['link-owner']);
        expect((await store.directory.devices.all({ where: { serial: 'SN1' } })).map((d) => d.id)).toEqual([device.id]);
        await store.directory.users.delete(owner.id);
        expect((await store.directory.devices.get(device.id)).owners).toEqual([]);
      });

      it('stores secrets only in their own column and finds API keys by secret hash', async () => {
        const key = await store.directory.apiKeys.create({ name: 'ci-key', scopes: ['read'], prefix: 'ghk_abcd', secretHash: 'a'.repeat(64) });
        expect(key.secretHash).toBe('a'.repeat(64));
        expect((await store.directory.apiKeys.findBySecretHash('a'.repeat(64)))?.id).toBe(key.id);
        expect(await store.directory.apiKeys.findBySecretHash('b'.repeat(64))).toBeUndefined();
        await expect(store.directory.apiKeys.create({ name: 'ci-key-2', scopes: ['read'], prefix: 'x', secretHash: 'a'.repeat(64) })).rejects.toBeInstanceOf(AlreadyExistsError);
      });

      it('separates config-managed objects from API ones', async () => {
        await store.directory.networks.create({ name: 'net-config', cidrs: ['10.0.0.0/8'], risky: false }, 'config');
        await store.directory.networks.create({ name: 'net-api', cidrs: ['192.0.2.0/24'], risky: false });
        expect((await store.directory.networks.all({ managedBy: 'config' })).map((n) => n.name)).toEqual(['net-config']);
      });
    });

    describe('memberships', () => {
      it('resolves nested groups, refuses cycles and duplicates, cascades deletes', async () => {
        const u = await store.directory.users.create(user('nest-user'));
        const [a, b, c] = await Promise.all(['nest-a', 'nest-b', 'nest-c'].map((name) => store.directory.groups.create({ name, attributes: {} })));
        await store.directory.memberships.add(a!.id, 'user', u.id);
        await store.directory.memberships.add(b!.id, 'group', a!.id); // a ⊂ b
        await store.directory.memberships.add(c!.id, 'group', b!.id); // b ⊂ c
        expect((await store.directory.memberships.resolveUserGroups(u.id)).map((g) => g.name)).toEqual(['nest-a', 'nest-b', 'nest-c']);
        expect((await store.directory.memberships.groupsOf('user', u.id)).map((g) => g.name)).toEqual(['nest-a']);
        expect(await store.directory.memberships.members(b!.id)).toEqual([{ kind: 'group', id: a!.id, name: 'nest-a', managedBy: 'api' }]);
        await expect(store.directory.memberships.add(a!.id, 'group', c!.id)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.directory.memberships.add(a!.id, 'group', a!.id)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.directory.memberships.add(a!.id, 'user', u.id)).rejects.toBeInstanceOf(AlreadyExistsError);
        await expect(store.directory.memberships.add(a!.id, 'user', '00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
        await store.directory.groups.delete(b!.id);
        expect((await store.directory.memberships.resolveUserGroups(u.id)).map((g) => g.name)).toEqual(['nest-a']);
        expect(await store.directory.memberships.remove(a!.id, 'user', u.id)).toBe(true);
        expect(await store.directory.memberships.remove(a!.id, 'user', u.id)).toBe(false);
        await store.directory.memberships.add(a!.id, 'user', u.id);
        await store.directory.users.delete(u.id);
        expect(await store.directory.memberships.members(a!.id)).toEqual([]);
      });

      it('lists the users of a group directly, or through the groups nested in it (one page at a time)', async () => {
        const [top, mid, low] = await Promise.all(['deep-top', 'deep-mid', 'deep-low'].map((name) => store.directory.groups.create({ name, attributes: {} })));
        await store.directory.memberships.add(top!.id, 'group', mid!.id);
        await store.directory.memberships.add(mid!.id, 'group', low!.id);
        const [d1, d2, d3] = await Promise.all(['deep-1', 'deep-2', 'deep-3'].map((name) => store.directory.users.create(user(name))));
        await store.directory.memberships.add(top!.id, 'user', d1!.id);
        await store.directory.memberships.add(mid!.id, 'user', d2!.id);
        await store.directory.memberships.add(low!.id, 'user', d2!.id);
        await store.directory.memberships.add(low!.id, 'user', d3!.id);
        const names = async (query: ListQuery) => (await store.directory.users.all(query)).map((u) => u.username);
        expect(await names({ memberOf: top!.id })).toEqual(['deep-1']);
        expect(await names({ memberOf: top!.id, nested: true })).toEqual(['deep-1', 'deep-2', 'deep-3']);
        expect(await names({ memberOf: mid!.id, nested: true, q: 'deep-3' })).toEqual(['deep-3']);
        const first = await store.directory.users.list({ memberOf: top!.id, nested: true, limit: 2 });
        const second = await store.directory.users.list({ memberOf: top!.id, nested: true, limit: 2, after: first.next });
        expect([...first.items, ...second.items].map((u) => u.username)).toEqual(['deep-1', 'deep-2', 'deep-3']);
        expect(second.next).toBeUndefined();
      });
    });

    describe('passwords', () => {
      it('keeps history and rehashes only the hash it verified', async () => {
        const u = await store.directory.users.create(user('pw-user'));
        expect(await store.directory.passwords.get(u.id)).toBeUndefined();
        await store.directory.passwords.set(u.id, 'h1', 2);
        await store.directory.passwords.set(u.id, 'h2', 2);
        await store.directory.passwords.set(u.id, 'h3', 2);
        await store.directory.passwords.set(u.id, 'h4', 2);
        expect(await store.directory.passwords.get(u.id)).toMatchObject({ hash: 'h4', history: ['h3', 'h2'] });
        expect((await store.directory.passwords.get(u.id))?.source).toBeUndefined();
        await store.directory.passwords.set(u.id, 'h4', 2, 'fp-1');
        expect(await store.directory.passwords.get(u.id)).toMatchObject({ hash: 'h4', source: 'fp-1' });
        expect(await store.directory.passwords.rehash(u.id, 'h3', 'x')).toBe(false);
        expect(await store.directory.passwords.rehash(u.id, 'h4', 'h4b')).toBe(true);
        expect((await store.directory.passwords.get(u.id))?.hash).toBe('h4b');
        await expect(store.directory.passwords.set('00000000-0000-0000-0000-000000000000', 'h', 0)).rejects.toBeInstanceOf(NotFoundError);
        await store.directory.users.delete(u.id);
        expect(await store.directory.passwords.get(u.id)).toBeUndefined();
      });
    });

    describe('second factors', () => {
      it('keeps a TOTP factor pending until confirmed, and accepts each time step once', async () => {
        const u = await store.directory.users.create(user('totp-user'));
        expect(await store.directory.factors.getTotp(u.id)).toBeUndefined();
        expect(await store.directory.factors.putTotp(u.id, 'v1.k.seed0')).toBe(true);
        expect(await store.directory.factors.putTotp(u.id, 'v1.k.seed1')).toBe(true); // a pending one restarts
        expect(await store.directory.factors.getTotp(u.id)).toMatchObject({ seedEncrypted: 'v1.k.seed1' });
        expect((await store.directory.factors.getTotp(u.id))?.confirmedAt).toBeUndefined();
        expect(await store.directory.factors.useTotpStep(u.id, 100)).toBe(false); // pending: not usable
        expect(await store.directory.factors.confirmTotp(u.id, 100)).toBe(true);
        expect(await store.directory.factors.confirmTotp(u.id, 101)).toBe(false);
        expect(await store.directory.factors.useTotpStep(u.id, 100)).toBe(false); // the confirming code is spent
        const racers = await Promise.all(Array.from({ length: 6 }, () => store.directory.factors.useTotpStep(u.id, 101)));
        expect(racers.filter(Boolean)).toHaveLength(1);
        expect(await store.directory.factors.useTotpStep(u.id, 99)).toBe(false);
        expect((await store.directory.factors.getTotp(u.id))?.lastStep).toBe(101);
        expect(await store.directory.factors.putTotp(u.id, 'v1.k.seed2')).toBe(false); // an active one stays
        expect(await store.directory.factors.rotateTotpSeed(u.id, 'v1.k.stale', 'v1.k2.seed1')).toBe(false);
        expect(await store.directory.factors.rotateTotpSeed(u.id, 'v1.k.seed1', 'v1.k2.seed1')).toBe(true);
        expect(await store.directory.factors.getTotp(u.id)).toMatchObject({ seedEncrypted: 'v1.k2.seed1', lastStep: 101, confirmedAt: expect.any(String) });
        expect(await store.directory.factors.deleteTotp(u.id)).toBe(true);
        expect(await store.directory.factors.putTotp(u.id, 'v1.k.seed3')).toBe(true); // after a reset, enrolment starts over
        expect((await store.directory.factors.getTotp(u.id))?.lastStep).toBeUndefined();
        await expect(store.directory.factors.putTotp('00000000-0000-0000-0000-000000000000', 'x')).rejects.toBeInstanceOf(NotFoundError);
        await store.directory.users.delete(u.id);
        expect(await store.directory.factors.getTotp(u.id)).toBeUndefined();
      });

      it('keeps one network password per person, replaced on set, gone with the person', async () => {
        const u = await store.directory.users.create(user('netpw-user'));
        expect(await store.directory.factors.getNetworkPassword(u.id)).toBeUndefined();
        expect(await store.directory.factors.setNetworkPassword(u.id, 'v1.k.pw1')).toMatchObject({ userId: u.id, passwordEncrypted: 'v1.k.pw1', createdAt: expect.any(String) });
        await store.directory.factors.setNetworkPassword(u.id, 'v1.k.pw2');
        expect(await store.directory.factors.getNetworkPassword(u.id)).toMatchObject({ passwordEncrypted: 'v1.k.pw2' });
        expect(await store.directory.factors.deleteNetworkPassword(u.id)).toBe(true);
        expect(await store.directory.factors.deleteNetworkPassword(u.id)).toBe(false);
        expect(await store.directory.factors.getNetworkPassword(u.id)).toBeUndefined();
        await expect(store.directory.factors.setNetworkPassword('00000000-0000-0000-0000-000000000000', 'x')).rejects.toBeInstanceOf(NotFoundError);
        await store.directory.factors.setNetworkPassword(u.id, 'v1.k.pw3');
        await store.directory.users.delete(u.id);
        expect(await store.directory.factors.getNetworkPassword(u.id)).toBeUndefined();
      });

      it('spends each recovery code once, even under concurrency', async () => {
        const u = await store.directory.users.create(user('recovery-user'));
        const other = await store.directory.users.create(user('recovery-other'));
        await store.directory.factors.setRecoveryCodes(u.id, ['a'.repeat(64), 'b'.repeat(64)]);
        expect(await store.directory.factors.countRecoveryCodes(u.id)).toBe(2);
        expect(await store.directory.factors.useRecoveryCode(other.id, 'a'.repeat(64))).toBe(false);
        const racers = await Promise.all(Array.from({ length: 5 }, () => store.directory.factors.useRecoveryCode(u.id, 'a'.repeat(64))));
        expect(racers.filter(Boolean)).toHaveLength(1);
        expect(await store.directory.factors.countRecoveryCodes(u.id)).toBe(1);
        await store.directory.factors.setRecoveryCodes(u.id, ['c'.repeat(64)]);
        expect(await store.directory.factors.useRecoveryCode(u.id, 'b'.repeat(64))).toBe(false);
        expect(await store.directory.factors.countRecoveryCodes(u.id)).toBe(1);
      });

      it('stores WebAuthn credentials and moves the counter only from the value read', async () => {
        const u = await store.directory.users.create(user('webauthn-user'));
        const cred = { id: 'Y3JlZC0x', userId: u.id, name: 'YubiKey', publicKey: 'pk', counter: 5, transports: ['usb'], deviceType: 'singleDevice' as const, backedUp: false, discoverable: true };
        expect(await store.directory.factors.addWebAuthn(cred)).toMatchObject({ ...cred, createdAt: expect.any(String) });
        await expect(store.directory.factors.addWebAuthn(cred)).rejects.toBeInstanceOf(AlreadyExistsError);
        expect((await store.directory.factors.listWebAuthn(u.id)).map((c) => c.name)).toEqual(['YubiKey']);
        const racers = await Promise.all([store.directory.factors.useWebAuthn(cred.id, 5, 6), store.directory.factors.useWebAuthn(cred.id, 5, 7)]);
        expect(racers.filter(Boolean)).toHaveLength(1);
        expect((await store.directory.factors.getWebAuthn(cred.id))?.lastUsedAt).toBeDefined();
        expect(await store.directory.factors.renameWebAuthn(cred.id, 'Blue key')).toBe(true);
        expect((await store.directory.factors.getWebAuthn(cred.id))?.name).toBe('Blue key');
        expect(await store.directory.factors.deleteWebAuthn(cred.id)).toBe(true);
        expect(await store.directory.factors.getWebAuthn(cred.id)).toBeUndefined();
      });
    });

    describe('device PKI', () => {
      it('keeps the first certificate authority stored when two processes create one', async () => {
        const [a, b] = await Promise.all([
          store.directory.pki.addAuthorityIfAbsent({ name: 'device', certificatePem: 'PEM-A', keyEncrypted: 'KEY-A' }),
          store.directory.pki.addAuthorityIfAbsent({ name: 'device', certificatePem: 'PEM-B', keyEncrypted: 'KEY-B' }),
        ]);
        expect(a).toEqual(b);
        expect((await store.directory.pki.getAuthority('device'))?.certificatePem).toBe(a.certificatePem);
      });

      it('records, finds and revokes device certificates and tokens', async () => {
        const device = await store.directory.devices.create({ name: 'pki-laptop', owners: [], platform: 'linux', managed: true, posture: {}, attributes: {} });
        const cert = { serial: '0a1b', deviceId: device.id, fingerprint: 'f'.repeat(64), subject: 'CN=pki-laptop', notBefore: new Date(Date.now() - 1000).toISOString(), notAfter: new Date(Date.now() + 86_400_000).toISOString(), certificatePem: 'PEM' };
        expect(await store.directory.pki.addCertificate(cert)).toMatchObject(cert);
        await expect(store.directory.pki.addCertificate(cert)).rejects.toBeInstanceOf(AlreadyExistsError);
        await expect(store.directory.pki.addCertificate({ ...cert, serial: 'ff', fingerprint: 'e'.repeat(64), deviceId: '00000000-0000-0000-0000-000000000000' })).rejects.toBeInstanceOf(NotFoundError);
        expect((await store.directory.pki.findCertificateByFingerprint('f'.repeat(64)))?.serial).toBe('0a1b');
        expect(await store.directory.pki.listRevoked()).toEqual([]);
        expect(await store.directory.pki.revokeCertificate('0a1b')).toBe(true);
        expect(await store.directory.pki.revokeCertificate('0a1b')).toBe(false);
        expect((await store.directory.pki.listRevoked()).map((c) => c.serial)).toEqual(['0a1b']);
        await store.directory.pki.addDeviceToken(device.id, 'd'.repeat(64));
        expect(await store.directory.pki.findDeviceByToken('d'.repeat(64))).toBe(device.id);
        await store.directory.devices.delete(device.id);
        expect(await store.directory.pki.findDeviceByToken('d'.repeat(64))).toBeUndefined();
        expect(await store.directory.pki.getCertificate('0a1b')).toBeUndefined();
      });
    });

    describe('signing keys', () => {
      const key = (kid: string, generation: number, alg = 'RS256', use: 'sig' | 'cookie' = 'sig') => ({
        kid, use, alg, generation, privateEncrypted: `enc-${kid}`, ...(use === 'sig' ? { publicJwk: { kty: 'RSA', kid } } : {}),
      });

      it('lets exactly one of two processes store the first generation', async () => {
        const results = await Promise.all([
          store.directory.signingKeys.add([key('a-rs', 1), key('a-es', 1, 'ES256'), key('a-ck', 1, 'HS256', 'cookie')]),
          store.directory.signingKeys.add([key('b-rs', 1), key('b-es', 1, 'ES256'), key('b-ck', 1, 'HS256', 'cookie')]),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const kids = (await store.directory.signingKeys.list()).map((k) => k.kid).sort();
        expect(kids).toEqual(results[0] ? ['a-ck', 'a-es', 'a-rs'] : ['b-ck', 'b-es', 'b-rs']);
      });

      it('rotates: the new generation comes first, older ones retire at the given time and are then pruned', async () => {
        const first = await store.directory.signingKeys.list();
        const winner = first[0]!.kid.slice(0, 1);
        const retiresAt = new Date(Date.now() + 60_000).toISOString();
        expect(await store.directory.signingKeys.add([key('c-rs', 2), key('c-ck', 2, 'HS256', 'cookie')], retiresAt)).toBe(true);
        expect(await store.directory.signingKeys.add([key('d-rs', 2)], retiresAt)).toBe(false);
        const listed = await store.directory.signingKeys.list();
        expect(listed.slice(0, 2).map((k) => k.kid)).toEqual(['c-rs', 'c-ck']);
        expect(listed[0]).toMatchObject({ generation: 2, use: 'sig', alg: 'RS256', publicJwk: { kty: 'RSA', kid: 'c-rs' }, privateEncrypted: 'enc-c-rs' });
        expect(listed[0]!.retiresAt).toBeUndefined();
        expect(listed.filter((k) => k.generation === 1).every((k) => k.retiresAt === retiresAt && k.kid.startsWith(winner))).toBe(true);
        expect(await store.directory.signingKeys.prune(new Date().toISOString())).toBe(0);
        expect(await store.directory.signingKeys.add([key('e-rs', 3)], new Date(Date.now() - 1000).toISOString())).toBe(true);
        // Generation 1 keeps its earlier retirement; generation 2 retired just now and is gone from the list.
        expect((await store.directory.signingKeys.list()).map((k) => k.generation)).toEqual([3, 1, 1, 1]);
        expect(await store.directory.signingKeys.prune(new Date().toISOString())).toBe(2);
        expect(await store.directory.signingKeys.prune(new Date(Date.now() + 120_000).toISOString())).toBe(3);
        expect((await store.directory.signingKeys.list()).map((k) => k.kid)).toEqual(['e-rs']);
      });
    });

    describe('audit log', () => {
      it('appends and queries by user, type prefix, outcome and time, newest first', async () => {
        const t0 = new Date(Date.now() - 1000).toISOString();
        await store.directory.audit.append({ type: 'authn.password', actor: { type: 'user', id: 'u-1', name: 'audit-alice' }, outcome: 'failure', sourceIp: '192.0.2.1', protocol: 'ldap', reasons: [{ code: 'bad_password', description: 'wrong password' }] });
        await store.directory.audit.append({ type: 'user.created', actor: { type: 'apikey', id: 'k1', name: 'admin' }, target: { type: 'user', id: 'u-1', name: 'audit-alice' }, outcome: 'success', details: { fields: ['email'] } });
        await store.directory.audit.append({ type: 'user.created', actor: { type: 'apikey', id: 'k1', name: 'admin' }, target: { type: 'user', id: 'u-2', name: 'audit-bob' }, outcome: 'success' });
        const forAlice = await store.directory.audit.query({ user: 'audit-alice' });
        expect(forAlice.items.map((e) => e.type)).toEqual(['user.created', 'authn.password']);
        expect(forAlice.items[1]).toMatchObject({ sourceIp: '192.0.2.1', protocol: 'ldap', reasons: [{ code: 'bad_password' }], actor: { type: 'user', id: 'u-1' } });
        expect((await store.directory.audit.query({ user: 'u-2' })).items).toHaveLength(1);
        expect((await store.directory.audit.query({ type: 'user.', since: t0 })).items).toHaveLength(2);
        expect((await store.directory.audit.query({ outcome: 'failure', since: t0 })).items).toHaveLength(1);
        expect((await store.directory.audit.query({ until: t0 })).items).toHaveLength(0);
        const page = await store.directory.audit.query({ since: t0, limit: 2 });
        expect(page.items).toHaveLength(2);
        const rest = await store.directory.audit.query({ since: t0, limit: 2, after: page.next! });
        expect(rest.items).toHaveLength(1);
        expect(Number(rest.items[0]!.id)).toBeLessThan(Number(page.items[1]!.id));
      });

      it('matches a type prefix with an underscore literally (radius_client., network_session.)', async () => {
        const t0 = new Date(Date.now() - 1000).toISOString();
        await store.directory.audit.append({ type: 'radius_client.created', actor: { type: 'cli' }, outcome: 'success' });
        await store.directory.audit.append({ type: 'radiusXclient.created', actor: { type: 'cli' }, outcome: 'success' });
        expect((await store.directory.audit.query({ type: 'radius_client.', since: t0 })).items.map((e) => e.type)).toEqual(['radius_client.created']);
      });

      it('concurrent appends each get their own event, stored (SQLite: in one commit, in the order appended)', async () => {
        const commits: string[] = [];
        const watch = (q: { sql: string }) => {
          if (/^(commit|begin)/i.test(q.sql)) commits.push(q.sql);
        };
        const knex = (store as KnexStore).knex;
        knex.on('query', watch);
        const events = await Promise.all(
          Array.from({ length: 12 }, (_, i) => store.directory.audit.append({ type: 'access.decision', actor: { type: 'user', id: 'u-batch', name: 'audit-batch' }, outcome: i % 2 ? 'denied' : 'success', requestId: `req-batch-${i}`, details: { n: i } })),
        ).finally(() => knex.off('query', watch));
        expect(new Set(events.map((e) => e.id)).size).toBe(12);
        const stored = await store.directory.audit.query({ user: 'audit-batch', limit: 50 });
        expect(stored.items.map((e) => e.requestId).sort()).toEqual(events.map((e) => e.requestId).sort());
        expect(stored.items.find((e) => e.requestId === 'req-batch-3')).toMatchObject({ outcome: 'denied', details: { n: 3 } });
        if (backend.name === 'sqlite') {
          // One transaction, the events in the order appended (PostgreSQL: one connection each, any order).
          expect(events.map((e) => Number(e.id))).toEqual([...events.map((e) => Number(e.id))].sort((a, b) => a - b));
          expect(commits.filter((c) => /^commit/i.test(c))).toHaveLength(1);
        }
      });

      it('finds the events of one request', async () => {
        await store.directory.audit.append({ type: 'access.decision', actor: { type: 'user', id: 'u-2', name: 'audit-bob' }, outcome: 'denied', requestId: 'req-audit-77' });
        expect((await store.directory.audit.query({ requestId: 'req-audit-77' })).items.map((e) => e.type)).toEqual(['access.decision']);
        expect((await store.directory.audit.query({ requestId: 'req-audit-78' })).items).toEqual([]);
      });
    });

    describe('transactions', () => {
      it('commits everything or nothing', async () => {
        await store.directory.transaction(async (tx) => {
          const u = await tx.users.create(user('tx-commit'));
          await tx.audit.append({ type: 'user.created', actor: { type: 'system' }, target: { type: 'user', id: u.id, name: u.username }, outcome: 'success' });
        });
        expect(await store.directory.users.findByName('tx-commit')).toBeDefined();
        expect((await store.directory.audit.query({ user: 'tx-commit' })).items).toHaveLength(1);

        await expect(
          store.directory.transaction(async (tx) => {
            const u = await tx.users.create(user('tx-rollback'));
            await tx.audit.append({ type: 'user.created', actor: { type: 'system' }, target: { type: 'user', id: u.id, name: u.username }, outcome: 'success' });
            await tx.users.create(user('tx-rollback')); // duplicate: the whole transaction fails
          }),
        ).rejects.toBeInstanceOf(AlreadyExistsError);
        expect(await store.directory.users.findByName('tx-rollback')).toBeUndefined();
        expect((await store.directory.audit.query({ user: 'tx-rollback' })).items).toHaveLength(0);
      });

      it('never runs a statement from outside inside an open transaction (SQLite: it waits for the connection)', async () => {
        let outside: Promise<void> | undefined;
        await store.ttl.put('tx-outside', 0, 60);
        await expect(
          store.directory.transaction(async (tx) => {
            await tx.users.create(user('tx-outside'));
            // The hot-path statements (prepared, statements.ts) of the TTL store and the audit log, from outside.
            outside = Promise.all([
              store.ttl.put('tx-outside', 1, 60),
              store.directory.audit.append({ type: 'user.created', actor: { type: 'system' }, target: { type: 'user', name: 'tx-outside' }, outcome: 'success' }),
            ]).then(() => undefined);
            await new Promise((r) => setTimeout(r, 20));
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        await outside;
        // The transaction's write is gone; the statements from outside were not part of it.
        expect(await store.directory.users.findByName('tx-outside')).toBeUndefined();
        expect(await store.ttl.get('tx-outside')).toBe(1);
        expect((await store.directory.audit.query({ user: 'tx-outside' })).items).toHaveLength(1);
        // Idle again: the same statements run straight away.
        await store.ttl.put('tx-outside', 2, 60);
        expect(await store.ttl.get('tx-outside')).toBe(2);
      });
    });

    describe('concurrency', () => {
      it('never loses concurrent updates of one object', async () => {
        const u = await store.directory.users.create(user('race', { attributes: { n: 0 } }));
        await Promise.all(
          Array.from({ length: 12 }, () => store.directory.users.update(u.id, (cur) => ({ ...cur, attributes: { n: (cur.attributes.n as number) + 1 } }))),
        );
        const after = await store.directory.users.get(u.id);
        expect(after.attributes.n).toBe(12);
        expect(after.version).toBe(13);
      });

      it('lets exactly one of two concurrent creates of one name win', async () => {
        const results = await Promise.allSettled([store.directory.groups.create({ name: 'race-group', attributes: {} }), store.directory.groups.create({ name: 'race-group', attributes: {} })]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(AlreadyExistsError) });
      });
    });

    describe('TTL store', () => {
      it('stores, expires and overwrites values', async () => {
        await store.ttl.put('t:a', { x: 1 }, 60);
        expect(await store.ttl.get('t:a')).toEqual({ x: 1 });
        await store.ttl.put('t:a', { x: 2 }, 60);
        expect(await store.ttl.get('t:a')).toEqual({ x: 2 });
        await store.ttl.put('t:short', 'v', 0.05);
        await sleep(120);
        expect(await store.ttl.get('t:short')).toBeUndefined();
        expect(await store.ttl.consume('t:short')).toBeUndefined();
        expect(await store.ttl.delete('t:a')).toBe(true);
        expect(await store.ttl.get('t:a')).toBeUndefined();
        await expect(store.ttl.put('t:bad', 1, -1)).rejects.toThrow(/ttl/);
        await expect(store.ttl.put('', 1, 1)).rejects.toThrow(/keys/);
      });

      it('adds only when absent or expired (seen message IDs)', async () => {
        expect(await store.ttl.add('seen:1', true, 60)).toBe(true);
        expect(await store.ttl.add('seen:1', true, 60)).toBe(false);
        expect(await store.ttl.add('seen:2', true, 0.05)).toBe(true);
        await sleep(120);
        expect(await store.ttl.add('seen:2', true, 60)).toBe(true);
      });

      it('gives a concurrently consumed value to exactly one consumer', async () => {
        for (let round = 0; round < 5; round++) {
          await store.ttl.put(`code:${round}`, { round }, 60);
          const results = await Promise.all(Array.from({ length: 8 }, () => store.ttl.consume(`code:${round}`)));
          expect(results.filter((r) => r !== undefined)).toEqual([{ round }]);
        }
      });

      it('counts atomically and restarts an expired counter', async () => {
        const counts = await Promise.all(Array.from({ length: 15 }, () => store.ttl.increment('ctr:a', 60)));
        expect(counts.map((c) => c.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
        expect((await store.ttl.counter('ctr:a'))?.count).toBe(15);
        await store.ttl.increment('ctr:b', 0.05);
        await sleep(120);
        expect(await store.ttl.counter('ctr:b')).toBeUndefined();
        expect((await store.ttl.increment('ctr:b', 60)).count).toBe(1);
      });

      it('counts several counters in one call, each atomically, in the order asked; reads several at once', async () => {
        await store.ttl.increment('many:b', 60);
        await store.ttl.increment('many:x', 0.05);
        await sleep(120);
        // Concurrent calls over the same keys in opposite orders (rows locked in one order: no deadlock).
        const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.ttl.incrementAll(i % 2 ? ['many:a', 'many:b', 'many:x'] : ['many:x', 'many:b', 'many:a'], 60)));
        const counts = (key: string) => results.map((r, i) => r[(i % 2 ? ['many:a', 'many:b', 'many:x'] : ['many:x', 'many:b', 'many:a']).indexOf(key)]!.count).sort((a, b) => a - b);
        expect(counts('many:a')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        expect(counts('many:b')).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
        // An expired counter starts again from one.
        expect(counts('many:x')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        const [a, missing, b] = await store.ttl.counters(['many:a', 'many:none', 'many:b']);
        expect([a?.count, missing, b?.count]).toEqual([12, undefined, 13]);
        expect(b).toEqual(await store.ttl.counter('many:b'));
        expect(await store.ttl.counters([])).toEqual([]);
        expect(await store.ttl.incrementAll([], 60)).toEqual([]);
        await expect(store.ttl.incrementAll(['many:a', 'many:a'], 60)).rejects.toThrow(RangeError);
      });

      it('takes an increment back: one off, deleted at zero, never below', async () => {
        for (let i = 0; i < 10; i++) await store.ttl.increment('dec:a', 60);
        const results = await Promise.all(Array.from({ length: 12 }, () => store.ttl.decrement('dec:a')));
        // Concurrent decrements each take one: 9..1, then the one that reached zero and two that found nothing.
        expect(results.filter((r) => r !== undefined).map((r) => r!.count).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(await store.ttl.counter('dec:a')).toBeUndefined();
        expect((await store.ttl.increment('dec:a', 60)).count).toBe(1);
        await store.ttl.increment('dec:c', 0.05);
        await sleep(120);
        expect(await store.ttl.decrement('dec:c')).toBeUndefined();
        expect((await store.ttl.increment('dec:c', 60)).count).toBe(1);
      });

      it('puts back the time and expiry of an increment taken back, unless something counted since', async () => {
        const before = await store.ttl.increment('dec:b', 60);
        await sleep(20);
        const after = await store.ttl.increment('dec:b', 600);
        expect(after).toMatchObject({ count: 2, updatedAt: expect.any(Number) });
        expect(after.updatedAt).toBeGreaterThan(before.updatedAt);
        expect(await store.ttl.decrement('dec:b', { after, before })).toEqual(before);
        expect(await store.ttl.counter('dec:b')).toEqual(before);

        const mine = await store.ttl.increment('dec:b', 60);
        await sleep(5);
        const theirs = await store.ttl.increment('dec:b', 60);
        // Another increment came after mine: only the count goes down, its time stays.
        expect(await store.ttl.decrement('dec:b', { after: mine, before })).toEqual({ ...theirs, count: 2 });

        // Taking back the only increment of a counter that was absent before removes it.
        const only = await store.ttl.increment('dec:d', 60);
        expect(await store.ttl.decrement('dec:d', { after: only })).toBeUndefined();
        expect(await store.ttl.counter('dec:d')).toBeUndefined();

        // An increment that left two, taken back after the other one was: the counter goes with its last count.
        const first = await store.ttl.increment('dec:e', 60);
        const second = await store.ttl.increment('dec:e', 60);
        expect(await store.ttl.decrement('dec:e')).toMatchObject({ count: 1 });
        expect(await store.ttl.decrement('dec:e', { after: second, before: first })).toBeUndefined();
        expect(await store.ttl.counter('dec:e')).toBeUndefined();
        expect((await store.ttl.increment('dec:e', 60)).count).toBe(1);
      });

      it('deletes some counters and takes back increments of others together, all or nothing', async () => {
        // A throttle's success, alone: the account's counter deleted, the address's only increment taken back (the counter goes).
        await store.ttl.increment('dd:user', 60);
        const only = await store.ttl.increment('dd:ip', 60);
        await store.ttl.deleteAndDecrement(['dd:user'], [{ key: 'dd:ip', undo: { after: only } }]);
        expect(await store.ttl.counters(['dd:user', 'dd:ip'])).toEqual([undefined, undefined]);

        // Under concurrency: the address's counter stays with one less, its time put back when nothing counted since.
        await store.ttl.increment('dd:user', 60);
        const before = await store.ttl.increment('dd:ip', 60);
        await sleep(5);
        const after = await store.ttl.increment('dd:ip', 60);
        await store.ttl.deleteAndDecrement(['dd:user'], [{ key: 'dd:ip', undo: { after, before } }]);
        expect(await store.ttl.counters(['dd:user', 'dd:ip'])).toEqual([undefined, before]);
        // Something counted since (only what the increment left is known): only the count goes down.
        const mine = await store.ttl.increment('dd:ip', 60);
        await sleep(5);
        const theirs = await store.ttl.increment('dd:ip', 60);
        await store.ttl.deleteAndDecrement([], [{ key: 'dd:ip', undo: { after: mine } }]);
        expect(await store.ttl.counter('dd:ip')).toEqual({ ...theirs, count: 2 });
        // Brought to zero: the row goes; deletes alone; an absent key changes nothing.
        await store.ttl.decrement('dd:ip');
        await store.ttl.increment('dd:user', 60);
        await store.ttl.deleteAndDecrement(['dd:user', 'dd:absent'], [{ key: 'dd:ip', undo: { after: theirs } }, { key: 'dd:absent2' }]);
        expect(await store.ttl.counters(['dd:user', 'dd:ip', 'dd:absent2'])).toEqual([undefined, undefined, undefined]);

        // A failing decrement fails the call and leaves the deletes undone.
        await store.ttl.increment('dd:user', 60);
        const ip = await store.ttl.increment('dd:ip', 60);
        const broken = { after: { ...ip, count: 2 }, before: { count: 1, updatedAt: {} as unknown as number, expiresAt: ip.expiresAt } };
        await expect(store.ttl.deleteAndDecrement(['dd:user'], [{ key: 'dd:ip', undo: broken }])).rejects.toThrow();
        expect(await store.ttl.counters(['dd:user', 'dd:ip'])).toEqual([expect.objectContaining({ count: 1 }), ip]);
        await expect(store.ttl.deleteAndDecrement(['dd:ip'], [{ key: 'dd:ip' }])).rejects.toBeInstanceOf(RangeError);
        // Keys are data, whatever they hold (a username with quotes, commas, braces, backslashes).
        const odd = 'dd:user:o"brien, {x} \\ NULL';
        await store.ttl.increment(odd, 60);
        const odd2 = await store.ttl.increment('dd:ip2', 60);
        await store.ttl.deleteAndDecrement([odd], [{ key: 'dd:ip2', undo: { after: odd2 } }]);
        expect(await store.ttl.counters([odd, 'dd:ip2'])).toEqual([undefined, undefined]);
      });

      it('deletes by subject or group tag and sweeps expired entries', async () => {
        await store.ttl.put('sess:1', 1, 60, { subject: 'u-9' });
        await store.ttl.put('sess:2', 2, 60, { subject: 'u-9', group: 'g-1' });
        await store.ttl.put('sess:3', 3, 60, { subject: 'u-8', group: 'g-1' });
        await store.ttl.put('other:1', 4, 60, { subject: 'u-9' });
        const listed = await store.ttl.listTagged<number>({ subject: 'u-9' }, 'sess:');
        expect(listed.map((e) => [e.key, e.value]).sort()).toEqual([['sess:1', 1], ['sess:2', 2]]);
        expect(listed[0]!.expiresAt).toBeGreaterThan(Date.now());
        expect((await store.ttl.listTagged({ group: 'g-1' }, 'sess:')).map((e) => e.key).sort()).toEqual(['sess:2', 'sess:3']);
        expect(await store.ttl.listTagged({ subject: 'u-9' }, 'sess:', 1)).toHaveLength(1);
        await expect(store.ttl.listTagged({}, 'sess:')).rejects.toThrow();
        await store.ttl.delete('other:1');
        expect(await store.ttl.deleteTagged({ subject: 'u-9' })).toBe(2);
        expect(await store.ttl.deleteTagged({ group: 'g-1' })).toBe(1);
        await expect(store.ttl.deleteTagged({})).rejects.toThrow();
        await store.ttl.put('old:1', 1, 0.02);
        await sleep(60);
        expect(await store.ttl.sweep()).toBeGreaterThanOrEqual(1);
      });
    });

    describe('namespaced views', () => {
      it('keep front-ends apart by key while tags reach every namespace', async () => {
        const a = namespacedTtl(store.ttl, 'oidc');
        const b = namespacedTtl(store.ttl, 'saml');
        await a.put('x', 'from-a', 60, { subject: 'u-ns' });
        await b.put('x', 'from-b', 60, { subject: 'u-ns' });
        expect(await a.get('x')).toBe('from-a');
        expect(await store.ttl.get('saml:x')).toBe('from-b');
        expect((await a.listTagged({ subject: 'u-ns' }, '')).map((e) => e.key)).toEqual(['x']);
        expect(await a.consume('x')).toBe('from-a');
        expect(await a.add('x', 'again', 60)).toBe(true);
        expect(await a.deleteTagged({ subject: 'u-ns' })).toBe(1);
        expect(await b.get('x')).toBeUndefined();
        expect(() => namespacedTtl(store.ttl, 'Bad:Name')).toThrow(RangeError);
        await a.delete('x');
      });
    });

    describe('network sessions', () => {
      const base = { client: 'vpn', nasIdentifier: 'gw1', username: 'alice', staleAt: Date.now() + 600_000 };
      const rec = (over: Partial<AccountingRecord> & Pick<AccountingRecord, 'kind' | 'acctSessionId'>): AccountingRecord => ({ ...base, at: Date.now(), ...over });
      const ns = () => store.directory.networkSessions;

      it('records Start, Interim-Update and Stop as one session; retransmissions and out-of-order records change nothing', async () => {
        const t0 = Date.now() - 60_000;
        const start = await ns().record(rec({ kind: 'start', acctSessionId: 's-1', at: t0, framedIpAddress: '10.0.0.5', callingStationId: '02-00-00-00-00-01', nasPort: 7, userId: 'u-1' }), { maxLive: 10 });
        expect(start.outcome).toBe('created');
        if (start.outcome === 'refused') throw new Error('refused');
        expect(start.session).toMatchObject({ client: 'vpn', nasIdentifier: 'gw1', acctSessionId: 's-1', username: 'alice', userId: 'u-1', live: true, nasPort: 7, framedIpAddress: '10.0.0.5', inputOctets: 0, startedAt: new Date(t0).toISOString() });
        expect((await ns().record(rec({ kind: 'start', acctSessionId: 's-1', at: t0 }), { maxLive: 10 })).outcome).toBe('ignored');
        const interim = rec({ kind: 'interim', acctSessionId: 's-1', at: t0 + 30_000, sessionTime: 30, inputOctets: 5 * 2 ** 32 + 1, outputOctets: 900, inputPackets: 3, outputPackets: 4 });
        const updated = await ns().record(interim, { maxLive: 10 });
        expect(updated).toMatchObject({ outcome: 'updated', session: { sessionTime: 30, inputOctets: 5 * 2 ** 32 + 1, outputOctets: 900, live: true } });
        expect((await ns().record(interim, { maxLive: 10 })).outcome).toBe('ignored');
        // An older Interim-Update arriving late.
        expect((await ns().record(rec({ kind: 'interim', acctSessionId: 's-1', at: t0 + 20_000, sessionTime: 20, inputOctets: 1 }), { maxLive: 10 })).outcome).toBe('ignored');
        const stop = rec({ kind: 'stop', acctSessionId: 's-1', at: t0 + 60_000, sessionTime: 60, inputOctets: 6 * 2 ** 32, outputOctets: 1000, terminateCause: 'User-Request' });
        const stopped = await ns().record(stop, { maxLive: 10 });
        expect(stopped).toMatchObject({ outcome: 'updated', session: { live: false, sessionTime: 60, terminateCause: 'User-Request', stoppedAt: new Date(t0 + 60_000).toISOString() } });
        expect((await ns().record(stop, { maxLive: 10 })).outcome).toBe('ignored');
        // An Interim-Update after the Stop.
        expect((await ns().record(rec({ kind: 'interim', acctSessionId: 's-1', sessionTime: 90, inputOctets: 7 }), { maxLive: 10 })).outcome).toBe('ignored');
        const id = (stopped as { session: { id: string } }).session.id;
        expect(await ns().get(id)).toMatchObject({ live: false, sessionTime: 60, inputOctets: 6 * 2 ** 32 });
        await expect(ns().get('00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
        await expect(ns().get('nonsense')).rejects.toBeInstanceOf(NotFoundError);
      });

      it('keys sessions by client, NAS and Acct-Session-Id; a lost Start is made up from the Interim-Update or Stop', async () => {
        const a = await ns().record(rec({ kind: 'start', acctSessionId: 'same', client: 'key-a' }), { maxLive: 10 });
        const b = await ns().record(rec({ kind: 'start', acctSessionId: 'same', client: 'key-a', nasIdentifier: 'other' }), { maxLive: 10 });
        const c = await ns().record(rec({ kind: 'start', acctSessionId: 'same', client: 'key-b' }), { maxLive: 10 });
        expect([a.outcome, b.outcome, c.outcome]).toEqual(['created', 'created', 'created']);
        const at = Date.now();
        const late = await ns().record(rec({ kind: 'interim', acctSessionId: 'no-start', client: 'key-a', at, sessionTime: 100 }), { maxLive: 10 });
        expect(late).toMatchObject({ outcome: 'created', session: { live: true, sessionTime: 100, startedAt: new Date(at - 100_000).toISOString() } });
        const stopOnly = await ns().record(rec({ kind: 'stop', acctSessionId: 'stop-only', client: 'key-a', sessionTime: 5, terminateCause: 'Lost-Carrier' }), { maxLive: 10 });
        expect(stopOnly).toMatchObject({ outcome: 'created', session: { live: false, terminateCause: 'Lost-Carrier' } });
      });

      it('refuses a new live session beyond the limit of its client, and clears a NAS on Accounting-On', async () => {
        for (const id of ['l-1', 'l-2']) expect((await ns().record(rec({ kind: 'start', acctSessionId: id, client: 'limited' }), { maxLive: 2 })).outcome).toBe('created');
        expect(await ns().record(rec({ kind: 'start', acctSessionId: 'l-3', client: 'limited' }), { maxLive: 2 })).toEqual({ outcome: 'refused', live: 2 });
        // Records of existing sessions still count.
        expect((await ns().record(rec({ kind: 'interim', acctSessionId: 'l-1', client: 'limited', sessionTime: 9 }), { maxLive: 2 })).outcome).toBe('updated');
        expect(await ns().countLive('limited')).toBe(2);
        await ns().record(rec({ kind: 'start', acctSessionId: 'l-x', client: 'limited', nasIdentifier: 'gw2' }), { maxLive: 3 });
        expect(await ns().clearNas({ client: 'limited', nasIdentifier: 'gw1' }, Date.now(), 'NAS-Reboot')).toBe(2);
        expect(await ns().countLive('limited')).toBe(1);
        const cleared = await ns().list({ client: 'limited', live: false });
        expect(cleared.items.map((s) => [s.acctSessionId, s.terminateCause]).sort()).toEqual([['l-1', 'NAS-Reboot'], ['l-2', 'NAS-Reboot']]);
        // Its Stop, arriving after, still brings the final counters.
        expect(await ns().record(rec({ kind: 'stop', acctSessionId: 'l-1', client: 'limited', sessionTime: 20, inputOctets: 77, terminateCause: 'User-Request' }), { maxLive: 2 })).toMatchObject({ outcome: 'updated', session: { inputOctets: 77, terminateCause: 'User-Request', live: false } });
      });

      it('keeps the device and certificate a session signed in with, and lists the live ones of a certificate or a device', async () => {
        const device = '11111111-2222-4333-8444-555555555555';
        const made = await ns().record(rec({ kind: 'start', acctSessionId: 'c-1', client: 'certs', deviceId: device, certificateSerial: '0a1b2c' }), { maxLive: 10 });
        expect(made).toMatchObject({ outcome: 'created', session: { deviceId: device, certificateSerial: '0a1b2c' } });
        await ns().record(rec({ kind: 'start', acctSessionId: 'c-2', client: 'certs', deviceId: device, certificateSerial: 'ffee' }), { maxLive: 10 });
        await ns().record(rec({ kind: 'start', acctSessionId: 'c-3', client: 'certs', deviceId: device, certificateSerial: '0a1b2c' }), { maxLive: 10 });
        await ns().record(rec({ kind: 'stop', acctSessionId: 'c-3', client: 'certs', sessionTime: 1 }), { maxLive: 10 });
        await ns().record(rec({ kind: 'start', acctSessionId: 'c-4', client: 'certs' }), { maxLive: 10 });
        expect((await ns().list({ certificateSerial: '0a1b2c', live: true })).items.map((s) => s.acctSessionId)).toEqual(['c-1']);
        expect((await ns().list({ certificateSerial: '0a1b2c' })).items.map((s) => s.acctSessionId).sort()).toEqual(['c-1', 'c-3']);
        expect((await ns().list({ client: 'certs', live: true })).items.find((s) => s.acctSessionId === 'c-4')).not.toHaveProperty('certificateSerial');
        // The live sessions of a device (its deletion ends them), whatever the certificate.
        expect((await ns().list({ deviceId: device, live: true })).items.map((s) => s.acctSessionId).sort()).toEqual(['c-1', 'c-2']);
        expect((await ns().list({ deviceId: '99999999-2222-4333-8444-555555555555' })).items).toEqual([]);
      });

      it('lists newest first with filters and cursor paging', async () => {
        const t = Date.now() - 1_000_000;
        for (let i = 0; i < 5; i++) await ns().record(rec({ kind: 'start', acctSessionId: `p-${i}`, client: 'paging', at: t + i * 1000, userId: i % 2 ? 'odd' : 'even' }), { maxLive: 10 });
        await ns().record(rec({ kind: 'stop', acctSessionId: 'p-4', client: 'paging', sessionTime: 1 }), { maxLive: 10 });
        const first = await ns().list({ client: 'paging', limit: 2 });
        expect(first.items.map((s) => s.acctSessionId)).toEqual(['p-4', 'p-3']);
        const second = await ns().list({ client: 'paging', limit: 2, after: first.next! });
        expect(second.items.map((s) => s.acctSessionId)).toEqual(['p-2', 'p-1']);
        const third = await ns().list({ client: 'paging', limit: 2, after: second.next! });
        expect(third.items.map((s) => s.acctSessionId)).toEqual(['p-0']);
        expect(third.next).toBeUndefined();
        expect((await ns().list({ client: 'paging', userId: 'even', live: true })).items.map((s) => s.acctSessionId)).toEqual(['p-2', 'p-0']);
        await expect(ns().list({ after: 'garbage' })).rejects.toThrow(/cursor/);
      });

      it('expires stale live sessions and prunes old stopped ones, once', async () => {
        const stale = await ns().record(rec({ kind: 'start', acctSessionId: 'st-1', client: 'stale', staleAt: Date.now() - 1 }), { maxLive: 10 });
        await ns().record(rec({ kind: 'start', acctSessionId: 'st-2', client: 'stale' }), { maxLive: 10 });
        const [one, two] = await Promise.all([ns().expireStale(Date.now()), ns().expireStale(Date.now())]);
        expect(one + two).toBeGreaterThanOrEqual(1);
        const id = (stale as { session: { id: string } }).session.id;
        expect(await ns().get(id)).toMatchObject({ live: false, terminateCause: 'Stale' });
        expect(await ns().countLive('stale')).toBe(1);
        expect(await ns().prune(Date.now() + 1)).toBeGreaterThanOrEqual(1);
        await expect(ns().get(id)).rejects.toBeInstanceOf(NotFoundError);
        expect(await ns().countLive('stale')).toBe(1);
      });

      it('queues a Disconnect once, gives each claim to one claimant, and records the outcome', async () => {
        const made = await ns().record(rec({ kind: 'start', acctSessionId: 'd-1', client: 'coa' }), { maxLive: 10 });
        const id = (made as { session: { id: string } }).session.id;
        const asked = await Promise.all([ns().requestDisconnect(id, 'user_suspended', 'system'), ns().requestDisconnect(id, 'user_suspended', 'system')]);
        expect(asked.filter(Boolean)).toHaveLength(1);
        expect(await ns().get(id)).toMatchObject({ disconnect: { state: 'pending', reason: 'user_suspended', requestedBy: 'system', attempts: 0 } });
        const claims = await Promise.all([ns().claimDisconnects('p1', Date.now() + 30_000, 10), ns().claimDisconnects('p2', Date.now() + 30_000, 10)]);
        expect(claims.flat().map((s) => s.id)).toEqual([id]);
        const winner = claims[0].length ? 'p1' : 'p2';
        // Not claimable again while the lease holds; not queued again while it is open.
        expect(await ns().claimDisconnects('p3', Date.now() + 30_000, 10)).toEqual([]);
        expect(await ns().requestDisconnect(id, 'admin', 'root', { again: true })).toBe(false);
        expect(await ns().finishDisconnect(id, 'p3', { state: 'acked', attempts: 1 }, Date.now())).toBe(false);
        expect(await ns().finishDisconnect(id, winner, { state: 'timeout', attempts: 3 }, Date.now())).toBe(true);
        expect(await ns().get(id)).toMatchObject({ live: true, disconnect: { state: 'timeout', attempts: 3 } });
        // The automatic triggers ask once; an administrator may ask again.
        expect(await ns().requestDisconnect(id, 'user_suspended', 'system')).toBe(false);
        expect(await ns().requestDisconnect(id, 'admin', 'root', { again: true })).toBe(true);
        const [claimed] = await ns().claimDisconnects('p4', Date.now() + 30_000, 10);
        expect(claimed).toMatchObject({ id, disconnect: { state: 'sending', reason: 'admin' } });
        expect(await ns().finishDisconnect(id, 'p4', { state: 'acked', attempts: 2 }, Date.now())).toBe(true);
        expect(await ns().get(id)).toMatchObject({ live: false, terminateCause: 'Admin-Reset', disconnect: { state: 'acked', attempts: 2 } });
        // A stopped session is not disconnected.
        expect(await ns().requestDisconnect(id, 'admin', 'root', { again: true })).toBe(false);
      });

      it('hands a claim whose lease ran out to another claimant', async () => {
        const made = await ns().record(rec({ kind: 'start', acctSessionId: 'd-2', client: 'coa' }), { maxLive: 10 });
        const id = (made as { session: { id: string } }).session.id;
        expect(await ns().requestDisconnect(id, 'not_assigned', 'system')).toBe(true);
        expect((await ns().claimDisconnects('crashed', Date.now() - 1, 10)).map((s) => s.id)).toEqual([id]);
        expect((await ns().claimDisconnects('next', Date.now() + 30_000, 10)).map((s) => s.id)).toEqual([id]);
        expect(await ns().finishDisconnect(id, 'crashed', { state: 'acked', attempts: 1 }, Date.now())).toBe(false);
        expect(await ns().finishDisconnect(id, 'next', { state: 'nak', attempts: 1, detail: 'Session-Context-Not-Found (503)' }, Date.now())).toBe(true);
        expect(await ns().get(id)).toMatchObject({ live: true, disconnect: { state: 'nak', detail: 'Session-Context-Not-Found (503)' } });
      });

      it('applies concurrent copies of one Start once', async () => {
        const results = await Promise.all(Array.from({ length: 4 }, () => ns().record(rec({ kind: 'start', acctSessionId: 'race', client: 'race' }), { maxLive: 10 })));
        expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
        expect(await ns().countLive('race')).toBe(1);
      });
    });

    describe('operations', () => {
      it('reports health and migration state', async () => {
        expect(await store.health()).toEqual({ ok: true, detail: expect.stringContaining('migrations current') });
        expect((await store.migrate()).applied).toEqual([]);
      });
    });
  });
}
