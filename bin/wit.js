#!/usr/bin/env node
// ESM launcher kept for scripts and tests that run `node bin/wit.js`; the installed `wit` command is
// bin/wit.cjs, which also sizes the libuv thread pool (sharp) to the machine before anything starts.
// The CLI is compiled to dist/ by `npm install` (the prepare script) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('wit: not built yet; run `npm install` (or `npm run build`) in the wit checkout first\n');
  process.exit(1);
}
const { runCli } = await import(main.href);
process.exitCode = await runCli(process.argv.slice(2));
