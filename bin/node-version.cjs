// The Node.js version check, in plain old JavaScript (CommonJS, ES5 syntax) so that any Node.js can
// parse it and say what is wrong, instead of failing with "bad option: --experimental-strip-types"
// or a syntax error. Gatehouse is TypeScript run by Node's own type stripping: 22.14 is the first
// release with --experimental-strip-types on every platform we run on (22.18 strips by default).
//
// bin/gatehouse.js calls problem() first and stops with its message. `node bin/node-version.cjs`
// (package.json's preinstall) only warns and exits 0, so an install on an old Node still completes
// and the message is the first thing the person sees.
'use strict';

/** The oldest supported version, [major, minor]; package.json's engines.node says the same. */
var MINIMUM = [22, 14];

/**
 * The problem with running Gatehouse on Node.js `version` (e.g. process.versions.node, "20.19.2",
 * a leading "v" allowed), as a message saying what is needed and how to get it; null when fine.
 */
function problem(version) {
  var match = /^v?(\d+)\.(\d+)\.\d+/.exec(String(version));
  if (match) {
    var major = Number(match[1]);
    var minor = Number(match[2]);
    if (major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1])) return null;
  }
  var shown = match ? 'v' + String(version).replace(/^v/, '') : JSON.stringify(String(version));
  return [
    'Gatehouse needs Node.js ' + MINIMUM.join('.') + ' or newer (24 LTS recommended); this is Node.js ' + shown + '.',
    'Get a current Node.js:',
    '  - from https://nodejs.org/en/download (installers, binaries, and a version manager such as nvm: nvm install 24),',
    '  - or, where the distribution\'s own nodejs package is older (Debian and Ubuntu LTS releases), from NodeSource: https://github.com/nodesource/distributions,',
    '  - or run the container image (see the Dockerfile).',
  ].join('\n');
}

module.exports = { MINIMUM: MINIMUM, problem: problem };

if (require.main === module) {
  var message = problem(process.versions.node);
  if (message) console.warn('\nwarning: ' + message + '\n');
  process.exit(0);
}
