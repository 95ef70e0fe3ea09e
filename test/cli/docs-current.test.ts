/** docs/events.md, docs/reasons.md and docs/configuration.md are generated; the committed copies must match the code. */
import { describe, expect, it } from 'vitest';
import { run } from './helpers.ts';

describe('generated documentation', () => {
  it('is up to date in docs/ (run `npm run docs` after changing the catalogue or the schema)', async () => {
    expect(await run(['docs', '--check'])).toMatchObject({ code: 0, stdout: 'docs are up to date\n' });
  });
});
