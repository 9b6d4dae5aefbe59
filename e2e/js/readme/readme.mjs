// The code blocks of README.md, taken verbatim, for the tests that prove
// the README's snippets work as pasted (snippets.test.mjs, nginx.test.mjs;
// run by e2e/readme_test.go).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root. */
export const repo = resolve(here, '..', '..', '..');

/** e2e/js/node_modules, where a pasted require('pusher') is resolved. */
export const nodeModules = resolve(here, '..', 'node_modules');

const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/**
 * The count fenced blocks of language lang that follow the first line of
 * README.md starting with marker, verbatim. Fails when there are fewer.
 */
export function blocksAfter(marker, lang, count = 1) {
  const at = readme.split('\n').findIndex((line) => line.startsWith(marker));
  assert.ok(at >= 0, `README.md has no line starting with ${JSON.stringify(marker)}`);
  const rest = readme.split('\n').slice(at).join('\n');
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm');
  const found = [...rest.matchAll(re)].slice(0, count).map((m) => m[1]);
  assert.equal(found.length, count, `README.md has ${count} \`\`\`${lang} block(s) after ${JSON.stringify(marker)}`);
  return found;
}

/**
 * code with from replaced by to; from must occur exactly once, so that a
 * README edit that moves the port or host fails here instead of testing
 * something else.
 */
export function replaceOnce(code, from, to) {
  const n = code.split(from).length - 1;
  assert.equal(n, 1, `${JSON.stringify(from)} occurs ${n} times in the snippet, want once:\n${code}`);
  return code.replace(from, () => to);
}

/**
 * Runs code as a CommonJS script file, as `node send.js` runs a pasted
 * snippet: in a temp dir, with require() resolving e2e/js's packages.
 * Returns {output(), exited} where exited resolves to {code, signal}; the
 * test must call stop() (it kills the process by its PID) when done.
 */
export function runScript(code) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-readme-'));
  const file = join(dir, 'snippet.js');
  writeFileSync(file, code);
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: { ...process.env, NODE_PATH: nodeModules },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => { out += b; });
  child.stderr.on('data', (b) => { out += b; });
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  return {
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
