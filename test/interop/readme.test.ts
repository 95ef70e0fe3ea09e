/**
 * The README, run: every ```sh block of README.md, in order, by bash, against a real Gatehouse on
 * the demo configuration (config/gatehouse.yaml, copied unchanged, with config/production.yaml, into
 * a scratch directory, so its ./data is there), and what the README says a block prints compared
 * with what it printed — as glauth runs ldapsearch against its build and compares with golden
 * output. The commands use curl, ldap-utils and openssl (Debian packages; .ci/run installs them):
 * a missing one fails its block.
 *
 * The conventions of README.md (the first test refuses a README that breaks them):
 *  - a ```sh block is run, unless the last non-blank line before its fence is
 *      `<!-- readme-test: skip WHY -->` (WHY required: install commands, the test suites, tools such
 *        as Docker or a browser that this suite does not drive), or
 *      `<!-- readme-test: start -->`: starting the server. The test starts it as `npm start` does
 *        (`gatehouse start` in the directory) and compares what it prints, its JSON log lines left
 *        out, with the ```text block that follows the prose after it;
 *  - a ```text block right after a run ```sh block (blank lines between at most) is what the block
 *    prints on stdout: `…` stands for any text within a line, a line of `…` alone for any lines;
 *  - commands are fenced as `sh` only (not bash, shell or console), so none escapes the test.
 * What is substituted before running: the ports 9090, 3389, 1812 and 1813 become free ones (the
 * demo configuration reads them from GATEHOUSE_HTTP_PORT, GATEHOUSE_LDAP_PORT,
 * GATEHOUSE_RADIUS_AUTH_PORT and GATEHOUSE_RADIUS_ACCT_PORT), and `ghk_…` — the
 * admin key `npm start` printed — becomes the key this start printed. `npx gatehouse` reaches
 * bin/gatehouse.js through an `npx` shim on PATH, which is what npx resolves it to in the checkout
 * (a test below runs the real npx once), without npm's second of start-up per command. curl gets
 * --fail-with-body from a .curlrc, so an HTTP error status fails the command, as any failure does.
 *
 * All blocks run in one bash session, so a variable set in one (KEY) is there for the next, with
 * stdin from /dev/null so nothing waits on a prompt. A command that exits non-zero outside a
 * condition (bash's ERR trap, with pipefail and errtrace) fails its block, named with its status.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, BIN, ROOT } from '../cli/helpers.ts';
import { freePort } from '../helpers/ports.ts';

const run = promisify(execFile);
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Block {
  /** 1-based line of the opening fence in README.md. */
  line: number;
  lang: string;
  text: string;
  marker?: { kind: 'skip' | 'start'; reason: string };
  /** The ```text block after it: its expected stdout. */
  output?: Block;
  /** 0-based index of the closing fence's line. */
  endLine: number;
}

/** The fenced blocks of a Markdown text, with the readme-test marker on the line before each fence. */
function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
    if (i === lines.length) throw new Error(`README.md:${start + 1}: the block is never closed`);
    const before = lines.slice(0, start).reverse().find((l) => l.trim() !== '') ?? '';
    const marker = /^\s*<!-- readme-test: (\S+)\s*(.*?)\s*-->\s*$/.exec(before);
    const block: Block = { line: start + 1, lang: open[2]!, text: body.join('\n') + '\n', endLine: i };
    if (marker) {
      if (marker[1] !== 'skip' && marker[1] !== 'start') throw new Error(`README.md:${start}: unknown readme-test marker '${marker[1]}'`);
      block.marker = { kind: marker[1], reason: marker[2]! };
    }
    // Blank lines only between this block's fence and the previous one's: the previous one's output.
    const previous = blocks.at(-1);
    if (block.lang === 'text' && previous?.lang === 'sh' && lines.slice(previous.endLine + 1, start).every((l) => l.trim() === '')) {
      previous.output = block;
    }
    blocks.push(block);
  }
  return blocks;
}

/** The expected output of a README block as a regular expression over the actual output. */
function outputPattern(expected: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lines = trimLines(expected).replace(/\n$/, '').split('\n');
  const source = lines.map((l) => (l === '…' ? '(?:[^\\n]*\\n)*' : `${l.split('…').map(escape).join('[^\\n]*')}\\n`)).join('');
  return new RegExp(`^${source}$`);
}

/** Without trailing spaces on each line (the CLI pads table columns) and blank lines at the end (ldapsearch's). */
function trimLines(text: string): string {
  return text.replace(/[ \t]+$/gm, '').replace(/\n*$/, '\n');
}


const blocks = fencedBlocks(README);
const shellBlocks = blocks.filter((b) => b.lang === 'sh');
const runBlocks = shellBlocks.filter((b) => b.marker === undefined);
const startBlock = shellBlocks.find((b) => b.marker?.kind === 'start');

describe('README.md', () => {
  it('follows the conventions the test relies on', () => {
    for (const b of blocks) {
      expect(['bash', 'shell', 'console', 'zsh', 'shell-session'], `README.md:${b.line}: commands are fenced as sh`).not.toContain(b.lang);
      if (b.marker?.kind === 'skip') expect(b.marker.reason, `README.md:${b.line}: a skipped block says why`).not.toBe('');
      if (b.marker && b.lang !== 'sh') throw new Error(`README.md:${b.line}: a readme-test marker before a ${b.lang || 'plain'} block`);
      if (b.marker && b.output) throw new Error(`README.md:${b.line}: a block that is not run has an expected output`);
    }
    expect(shellBlocks.filter((b) => b.marker?.kind === 'start')).toHaveLength(1);
    // What a newcomer needs on a fresh machine, stated as commands.
    expect(startBlock?.text).toBe('npm install && npm start\n');
    const skipped = shellBlocks.filter((b) => b.marker?.kind === 'skip').map((b) => b.text).join('');
    expect(skipped).toMatch(/^npm test$/m);
    expect(skipped).toMatch(/^npm run test:interop$/m);
    // The few that are not run stay few.
    expect(runBlocks.length).toBeGreaterThan(3 * (shellBlocks.length - runBlocks.length));
  });

  it('has a table of contents whose links reach its headings', () => {
    // GitHub's anchors: lower case, punctuation dropped, spaces as hyphens.
    const anchors = new Set([...README.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
    const links = [...README.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(10);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
  });

  it('npx gatehouse, in the checkout, is bin/gatehouse.js (what the shim below stands for)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'gh-readme-npm-'));
    try {
      // A cache of its own and no registry: npx links the checkout's own package, nothing to fetch.
      const env = { ...baseEnv({ npm_config_cache: cache, npm_config_offline: 'true', npm_config_update_notifier: 'false' }), PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
      const { stdout } = await run('npx', ['gatehouse', '--version'], { cwd: ROOT, env, timeout: 60_000 });
      expect(stdout).toBe(`${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('README.md, every example against the demo configuration', () => {
  let dir: string;
  let scratch: string;
  let server: ChildProcessWithoutNullStreams;
  let serverOut = '';
  let serverExit: Promise<number | null>;
  let shell: ChildProcessWithoutNullStreams;
  let shellOut = '';
  let httpPort: number;
  let ldapPort: number;
  let radiusPorts: [number, number];
  let adminKey: string;

  const substitute = (text: string) =>
    text.replaceAll(':9090', `:${httpPort}`).replaceAll(':3389', `:${ldapPort}`).replaceAll(':1812', `:${radiusPorts[0]}`).replaceAll(':1813', `:${radiusPorts[1]}`);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-readme-'));
    scratch = join(dir, '.readme-test');
    mkdirSync(join(dir, 'config'));
    mkdirSync(join(scratch, 'bin'), { recursive: true });
    for (const file of ['gatehouse.yaml', 'production.yaml']) copyFileSync(join(ROOT, 'config', file), join(dir, 'config', file));
    writeFileSync(join(scratch, 'bin/npx'), `#!/bin/sh\n[ "$1" = gatehouse ] || { echo "npx $1: not in the README test's shim" >&2; exit 127; }\nshift\nexec '${process.execPath}' '${BIN}' "$@"\n`);
    chmodSync(join(scratch, 'bin/npx'), 0o755);
    writeFileSync(join(scratch, '.curlrc'), 'fail-with-body\nsilent\nshow-error\n');
    httpPort = await freePort();
    do ldapPort = await freePort(); while (ldapPort === httpPort);
    radiusPorts = [await freePort(), await freePort()];
    const env = {
      ...baseEnv({
        GATEHOUSE_HTTP_PORT: String(httpPort), GATEHOUSE_LDAP_PORT: String(ldapPort),
        GATEHOUSE_RADIUS_AUTH_PORT: String(radiusPorts[0]), GATEHOUSE_RADIUS_ACCT_PORT: String(radiusPorts[1]), CURL_HOME: scratch, ERRORS: join(scratch, 'errors') }),
      PATH: `${join(scratch, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`,
    };

    server = spawn(process.execPath, [BIN, 'start'], { cwd: dir, env });
    server.stdout.on('data', (chunk: Buffer) => (serverOut += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (serverOut += chunk.toString()));
    serverExit = new Promise((resolve) => server.on('close', resolve));
    const deadline = Date.now() + 60_000;
    while (!/^More keys: .*\n/m.test(serverOut)) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not start:\n${serverOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    adminKey = /^ {2}(ghk_\S+)$/m.exec(serverOut)![1]!;

    shell = spawn('bash', ['--noprofile', '--norc'], { cwd: dir, env });
    shell.stdout.on('data', (chunk: Buffer) => (shellOut += chunk.toString()));
    shell.stderr.on('data', (chunk: Buffer) => (shellOut += chunk.toString()));
    shell.stdin.write(`set -o pipefail -o errtrace\ntrap 'printf "exit %s: %s\\n" "$?" "$BASH_COMMAND" >> "$ERRORS"' ERR\n`);
  }, 90_000);

  afterAll(async () => {
    shell?.stdin.end();
    shell?.kill();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await serverExit;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`starts as README.md:${startBlock?.line} shows, printing the listeners and the admin key once`, () => {
    // The prose after the start block describes it; the first text block after it is what it prints.
    const banner = blocks.find((b) => b.lang === 'text' && b.line > startBlock!.line)!;
    const printed = serverOut.split('\n').filter((l) => !l.startsWith('{')).join('\n');
    expect(trimLines(printed)).toMatch(outputPattern(substitute(banner.text)));
  });

  let n = 0;
  it.each(runBlocks.map((b) => [`README.md:${b.line}: ${b.text.split('\n')[0]}`, b] as const))('%s', async (_name, block) => {
    const i = ++n;
    const script = join(scratch, `block-${i}.sh`);
    const out = join(scratch, `out-${i}`);
    const err = join(scratch, `err-${i}`);
    writeFileSync(script, substitute(block.text).replaceAll('ghk_…', adminKey));
    writeFileSync(join(scratch, 'errors'), '');
    const done = `__readme_block_${i}_done__`;
    shell.stdin.write(`. '${script}' < /dev/null > '${out}' 2> '${err}'\necho ${done}\n`);
    const deadline = Date.now() + 60_000;
    while (!shellOut.includes(done)) {
      if (shell.exitCode !== null || Date.now() > deadline) throw new Error(`the block did not finish (the session ${shell.exitCode === null ? 'is still running' : 'ended'}): ${shellOut}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const stdout = readFileSync(out, 'utf8');
    const stderr = readFileSync(err, 'utf8');
    // The ERR trap also fires for the sourcing command when the block's last command failed: only
    // that one is left when the block could not be read at all (a syntax error).
    const trapped = [...new Set(readFileSync(join(scratch, 'errors'), 'utf8').split('\n').filter(Boolean))];
    const own = trapped.filter((l) => !l.includes(`. '${script}'`));
    const failures = own.length > 0 ? own : trapped;
    expect(failures, `failed commands; stderr:\n${stderr}\nstdout:\n${stdout}`).toEqual([]);
    if (block.output) expect(trimLines(stdout), `stderr:\n${stderr}`).toMatch(outputPattern(substitute(block.output.text)));
  });
});
