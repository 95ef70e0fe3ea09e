/**
 * The directory snapshot searches read (protocols/ldap/cache.ts): a change made through this
 * process shows at the next search; one made by another process on the same store shows within
 * ldap.refreshSeconds. "Another process" here is a second core over the same database.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseString } from '@ldapjs/filter';
import type { BoundUser } from '../../protocols/ldap/bind.ts';
import { rawFilterOf } from '../../protocols/ldap/filter.ts';
import { LDAP_DEFAULTS, type LdapOptions } from '../../protocols/ldap/options.ts';
import { createSearcher, SCOPE, type Searcher, type SearchInput } from '../../protocols/ldap/search.ts';
import { createCore, type Core } from '../../src/core.ts';
import { UserInput } from '../../src/directory/model.ts';
import { createLogger } from '../../src/log.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import { openStore, type KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { dnOf, seed } from './support.ts';

const people = (filter: string): SearchInput => ({
  base: ['ou=people', 'dc=example', 'dc=com'], scope: SCOPE.one, filter: rawFilterOf(parseString(filter)), attributes: ['uid'], sizeLimit: 0, typesOnly: false,
});
const uids = async (searcher: Searcher, who: BoundUser, filter: string) => (await searcher.search(who, people(filter))).entries.map((e) => e.attributes[0]!.values[0]).sort();

describe.each(backends)('LDAP directory snapshot ($name)', (backend) => {
  let a: TestCore;
  let otherStore: KnexStore;
  let other: Core;
  let reader: BoundUser;
  const searchers: Searcher[] = [];
  const searcher = (core: Core, options: Partial<LdapOptions>) => {
    const s = createSearcher(core, { ...LDAP_DEFAULTS, port: 0, ...options });
    searchers.push(s);
    return s;
  };
  beforeAll(async () => {
    a = await coreFor(backend);
    await seed(a.core);
    // Another Gatehouse process: its own core and connections, the same database.
    otherStore = await openStore(a.config.storage.url);
    other = createCore(a.config, otherStore, new Keyring([{ id: 'other', key: randomBytes(32).toString('base64') }]), createLogger('silent'));
    const bob = await a.core.directory.users.find('bob');
    reader = { kind: 'user', userId: bob.id, username: 'bob', dn: dnOf('bob') };
  });
  afterAll(async () => {
    for (const s of searchers) s.close();
    await otherStore?.close();
    await a?.cleanup();
  });

  it('shows a change made through this process at the next search, whatever refreshSeconds says', async () => {
    const here = searcher(a.core, { refreshSeconds: 3600 });
    expect(await uids(here, reader, '(uid=erin)')).toEqual([]);
    await a.core.directory.users.create(CLI_CTX, UserInput.parse({ username: 'erin' }));
    expect(await uids(here, reader, '(uid=erin)')).toEqual(['erin']);
    await a.core.directory.users.suspend(CLI_CTX, 'bob');
    expect(await uids(here, reader, '(uid=*)')).toEqual([]);
    await a.core.directory.users.activate(CLI_CTX, 'bob');
    expect(await uids(here, reader, '(uid=erin)')).toEqual(['erin']);
  });

  it("shows another process's change before every search with refreshSeconds 0, and within refreshSeconds otherwise", async () => {
    const strict = searcher(other, { refreshSeconds: 0 });
    const relaxed = searcher(other, { refreshSeconds: 0.3 });
    const lazy = searcher(other, { refreshSeconds: 3600 });
    for (const s of [strict, relaxed, lazy]) expect(await uids(s, reader, '(uid=frank)')).toEqual([]);
    await a.core.directory.users.create(CLI_CTX, UserInput.parse({ username: 'frank' }));
    expect(await uids(strict, reader, '(uid=frank)')).toEqual(['frank']);
    // The snapshot is kept until the next check: that is what makes searches cheap.
    expect(await uids(lazy, reader, '(uid=frank)')).toEqual([]);
    await new Promise((r) => setTimeout(r, 350));
    expect(await uids(relaxed, reader, '(uid=frank)')).toEqual(['frank']);
    // A suspension elsewhere: the reader sees nothing from the next check on.
    await a.core.directory.users.suspend(CLI_CTX, 'bob');
    expect(await uids(strict, reader, '(uid=*)')).toEqual([]);
    await a.core.directory.users.activate(CLI_CTX, 'bob');
    expect(await uids(strict, reader, '(uid=frank)')).toEqual(['frank']);
  });
});
