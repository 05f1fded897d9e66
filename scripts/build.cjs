#!/usr/bin/env node
// Compiles the TypeScript sources into dist/ (`npm run build`), and with --if-stale only when dist/ is
// older than a source (`npm install`'s prepare script). The first `npx wit` in a checkout runs
// prepare again: npx links the checkout into its cache as a package, which runs its prepare, with the
// output hidden; a full compile there was about 45 s of silence (README.md "Install").
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync, writeFileSync, utimesSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const stamp = path.join(root, 'dist', '.build-stamp');

/** Newest modification time (ms) of the TypeScript sources and configs that dist/ is built from. */
function newestSource() {
  let newest = 0;
  const visit = (dir) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['src', 'bench', 'test']) visit(path.join(root, d));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
  return newest;
}

const built = existsSync(stamp) && existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js')) ? statSync(stamp).mtimeMs : -1;
if (process.argv.includes('--if-stale') && built >= newestSource()) {
  process.stderr.write('wit: dist/ is up to date with the TypeScript sources (`npm run build` recompiles)\n');
  process.exit(0);
}
process.stderr.write('wit: compiling the TypeScript sources into dist/ (tsc, about a minute on 2 cores)...\n');
const start = Date.now();
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
// The stamp carries the start time: a source saved during the build makes the next run compile again.
writeFileSync(stamp, '');
utimesSync(stamp, start / 1000, start / 1000);
process.stderr.write(`wit: dist/ built in ${((Date.now() - start) / 1000).toFixed(0)} s\n`);
