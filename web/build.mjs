#!/usr/bin/env node
// Generates web/dist/{push.js,push-vue.js,push-uniapp.js} from
// web/src/push.core.js. No dependencies; Node 18+.
//
//   node web/build.mjs           write dist/
//   node web/build.mjs --check   exit 1 if dist/ differs from what would be written
//
// The source keeps platform code between "//#if browser" or "//#if uniapp"
// and "//#endif"; each target keeps its own blocks and drops the others.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const srcPath = join(here, 'src', 'push.core.js');
const distDir = join(here, 'dist');

const targets = [
  { file: 'push.js', platform: 'browser', format: 'global', what: 'browser global `Push` (also CommonJS)' },
  { file: 'push-vue.js', platform: 'browser', format: 'esm', what: 'ES module for Vue/Vite: export { Push }, export default Push' },
  { file: 'push-uniapp.js', platform: 'uniapp', format: 'esm', what: 'ES module for uni-app (uni.connectSocket, uni.request): export default Push' },
];

// select keeps the lines of platform's //#if blocks and drops the others.
export function select(source, platform) {
  const out = [];
  let keep = true;
  let open = null;
  source.split('\n').forEach((line, i) => {
    const m = /^\s*\/\/#(if|endif)\b\s*(\S*)/.exec(line);
    if (!m) {
      if (keep) out.push(line);
      return;
    }
    if (m[1] === 'if') {
      if (open !== null) throw new Error(`line ${i + 1}: nested //#if`);
      open = m[2];
      keep = m[2] === platform;
    } else {
      if (open === null) throw new Error(`line ${i + 1}: //#endif without //#if`);
      open = null;
      keep = true;
    }
  });
  if (open !== null) throw new Error(`unterminated //#if ${open}`);
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trim() + '\n';
}

export function render(source, target) {
  const version = (/var VERSION = '([^']+)'/.exec(source) || [])[1] || '0';
  const body = select(source, target.platform);
  const banner =
    `/*! Herald push client ${version}: ${target.what}.\n` +
    ` * Generated from web/src/push.core.js by web/build.mjs; do not edit. */\n`;
  if (target.format === 'global') {
    return banner +
      `(function (root) {\n'use strict';\n\n` + body +
      `\nif (typeof module === 'object' && module && module.exports) {\n  module.exports = Push;\n}\n` +
      `if (root) {\n  root.Push = Push;\n}\n` +
      `})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : typeof window !== 'undefined' ? window : this);\n`;
  }
  return banner + '\n' + body + '\nexport { Push };\nexport default Push;\n';
}

function main() {
  const check = process.argv.includes('--check');
  const source = readFileSync(srcPath, 'utf8');
  const stale = [];
  for (const t of targets) {
    const want = render(source, t);
    const path = join(distDir, t.file);
    const have = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (have === want) continue;
    if (check) {
      stale.push(t.file);
    } else {
      mkdirSync(distDir, { recursive: true });
      writeFileSync(path, want);
      console.log(`wrote web/dist/${t.file}`);
    }
  }
  if (check) {
    if (stale.length) {
      console.error(`web/dist is stale (${stale.join(', ')}): run node web/build.mjs and commit web/dist`);
      process.exit(1);
    }
    console.log('web/dist is current');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main();
}
