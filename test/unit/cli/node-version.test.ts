/**
 * The Node.js version check bin/gatehouse.js runs first and npm's preinstall runs (bin/node-version.cjs),
 * with faked versions. The real old Node (/usr/bin/node) runs them in test/interop/old-node.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import nodeVersion from '../../../bin/node-version.cjs';

describe('the Node.js version check', () => {
  it('accepts 22.14 and newer', () => {
    for (const version of ['22.14.0', '22.18.1', '23.0.0', '24.21.0', 'v24.1.0', '100.0.0']) expect(nodeVersion.problem(version), version).toBeNull();
  });

  it('refuses older releases, saying what is needed, what this is and how to get it', () => {
    for (const version of ['22.13.1', '22.9.0', '20.19.2', 'v18.19.0', '12.22.9', '8.0.0']) {
      const message = nodeVersion.problem(version);
      expect(message, version).toContain('Gatehouse needs Node.js 22.14 or newer');
      expect(message).toContain(`this is Node.js v${version.replace(/^v/, '')}.`);
      expect(message).toContain('https://nodejs.org/en/download');
    }
  });

  it('refuses a version it cannot read, quoting it', () => {
    expect(nodeVersion.problem('next')).toContain('this is Node.js "next".');
    expect(nodeVersion.problem('')).toContain('needs Node.js 22.14');
  });

  it('says what package.json engines.node says', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };
    expect(pkg.engines.node).toBe(`>=${nodeVersion.MINIMUM.join('.')}`);
    expect(pkg.scripts.preinstall).toBe('node bin/node-version.cjs');
  });
});
