/**
 * Expensive fixtures built once per test run and shared by every test file that asks for them
 * (docs/ARCHITECTURE.md, "Tests"). `sharedFixture(name, build)` returns a folder that `build` filled;
 * the first caller in the run builds it (in a temporary folder, renamed into place when complete),
 * callers in other test workers meanwhile wait for that folder to appear, and later callers get it
 * at once. The run's fixture root is made by the global setup (./shared-fixtures-setup.ts, in
 * vitest.config.ts) and removed when the run ends; a file run without it gets a root of its own.
 *
 * A shared fixture is READ-ONLY: a test that changes one copies it first (cpSync) into its own
 * folder. Add a fixture here, next to the others, when two test files build the same thing.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The environment variable that names the run's fixture root. */
export const FIXTURES_ENV = 'WIT_TEST_FIXTURES';

let ownRoot: string | undefined;
function fixturesRoot(): string {
  const fromRun = process.env[FIXTURES_ENV];
  if (fromRun) return fromRun;
  ownRoot ??= mkdtempSync(join(tmpdir(), 'wit-fixtures-'));
  return ownRoot;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Options of {@link sharedFixture}. */
export interface SharedFixtureOptions {
  /**
   * Build in the fixture's own folder, not in a temporary one renamed into place: for a fixture whose
   * files name their own paths (an index records its model and shards, an open_clip config its
   * vocabulary). A marker `NAME.done` beside the folder then says the build is complete.
   */
  inPlace?: boolean;
}

/**
 * The folder of fixture `name`, built by `build(dir)` once per run. Waits (on the folder, not on a
 * clock) while another worker builds it; takes over a build whose worker died.
 */
export async function sharedFixture(name: string, build: (dir: string) => Promise<void>, opts: SharedFixtureOptions = {}): Promise<string> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`shared fixture name '${name}': lower-case letters, digits and '-' only`);
  const root = fixturesRoot();
  mkdirSync(root, { recursive: true });
  const dir = join(root, name);
  const done = opts.inPlace ? `${dir}.done` : dir;
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(done)) return dir;
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || NaN);
      if (Number.isInteger(owner) && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      await sleep(100);
      continue;
    }
    writeFileSync(join(lock, 'pid'), String(process.pid));
    // Another worker may have finished between the check above and taking the lock.
    if (existsSync(done)) {
      rmSync(lock, { recursive: true, force: true });
      return dir;
    }
    const target = opts.inPlace ? dir : `${dir}.tmp-${process.pid}`;
    try {
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target);
      await build(target);
      if (opts.inPlace) writeFileSync(done, '');
      else renameSync(target, dir);
      return dir;
    } catch (err) {
      rmSync(target, { recursive: true, force: true });
      throw err;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
