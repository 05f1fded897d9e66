#!/usr/bin/env node
// Thin launcher, CommonJS on purpose: libuv's thread pool (sharp, DNS, fs) is sized when the first
// async work starts, which in an ESM entry happens before any of its code runs. Setting
// UV_THREADPOOL_SIZE here, first, lets image work use every core.
'use strict';
const os = require('node:os');
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, (os.availableParallelism ? os.availableParallelism() : os.cpus().length) + 2));
const { existsSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('wit: not built yet; run `npm install` (or `npm run build`) in the wit checkout first\n');
  process.exit(1);
}
import(pathToFileURL(main).href).then(async ({ runCli }) => {
  process.exitCode = await runCli(process.argv.slice(2));
});
