/**
 * An old Node.js (the machine's /usr/bin/node, Debian's v20) runs `gatehouse --help` and npm's
 * preinstall: the first stops with a message saying what is needed and how to get it (not Node's
 * "bad option: --experimental-strip-types"), the second only warns so the install completes.
 * A missing /usr/bin/node, or one new enough, fails the suite: this test needs an old one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import nodeVersion from '../../bin/node-version.cjs';

const OLD_NODE = '/usr/bin/node';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function oldNodeVersion(): string {
  expect(existsSync(OLD_NODE), `${OLD_NODE} is missing: install the distribution's nodejs package (older than 22.14)`).toBe(true);
  const version = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
  expect(nodeVersion.problem(version), `${OLD_NODE} is ${version}, which is supported: this test needs an older one`).not.toBeNull();
  return version;
}

describe(`an old Node.js (${OLD_NODE})`, () => {
  it('gets a clear message and exit code 1 from bin/gatehouse.js', () => {
    const version = oldNodeVersion();
    const run = spawnSync(OLD_NODE, ['bin/gatehouse.js', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.stderr).not.toContain('bad option');
    expect(run.stderr).toContain(`Gatehouse needs Node.js 22.14 or newer (24 LTS recommended); this is Node.js ${version}.`);
    expect(run.stderr).toContain('https://nodejs.org/en/download');
    expect(run.stdout).toBe('');
    expect(run.status).toBe(1);
  });

  it("only gets a warning from npm's preinstall script, which exits 0", () => {
    const version = oldNodeVersion();
    const { scripts } = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: { preinstall: string } };
    // npm runs the script with `sh -c`; its `node` is the old one first on PATH.
    const run = spawnSync('sh', ['-c', scripts.preinstall], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${dirname(OLD_NODE)}:/bin` } });
    expect(run.stderr).toContain(`warning: Gatehouse needs Node.js 22.14 or newer (24 LTS recommended); this is Node.js ${version}.`);
    expect(run.status).toBe(0);
  });
});
