/**
 * The classes of hostile input (docs/ARCHITECTURE.md, "The hostile-input suite"), generated per case:
 * each `make` writes what it needs into the case's own folder and returns the path to pass.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync, ftruncateSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { hostname } from 'node:os';
import { readShards, ShardWriter, shardPath, type PairRecord } from '../../src/shards/index.js';
import { hostTag } from '../../src/util/output.js';
import { gzipSync } from 'node:zlib';
import type { Fixtures } from './fixtures.js';
import type { SlotKind } from './commands.js';

export interface InputClass {
  name: string;
  /** The kinds of slot it applies to. */
  kinds: SlotKind[];
  /** Writes the hostile input into `dir` from the valid one and returns its path (may be async). */
  make: (dir: string, valid: string, fx: Fixtures) => string | Promise<string>;
  /**
   * Exit codes accepted for this class (default: 2). A class of bad items inside good input (an
   * image the guard refuses, a caption over the limit) may end a run that goes on (0) or one with
   * nothing usable left (1, 2); what it must never do is crash, run unbounded or be killed.
   */
  accept?: number[];
}

const FILE_KINDS: SlotKind[] = ['text', 'json', 'binary', 'stream'];
const DIR_KINDS: SlotKind[] = ['shards', 'model', 'index'];
const ALL: SlotKind[] = [...FILE_KINDS, ...DIR_KINDS];

/** A name like the valid one's (same extensions), so that format detection by name still applies. */
function like(dir: string, valid: string, stem: string): string {
  const b = basename(valid);
  const dot = b.indexOf('.');
  return join(dir, stem + (dot > 0 ? b.slice(dot) : ''));
}

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

/** A sparse file of `bytes` (nothing written to disk). */
function sparse(path: string, bytes: number): string {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return path;
}

let bombCache: Buffer | undefined;
/** 4 GiB of one repeated byte as a 4 MB multi-member gzip file (every gzip reader must read all members). */
function gzipBomb(): Buffer {
  if (!bombCache) {
    const member = gzipSync(Buffer.alloc(64 << 20, 0x61), { level: 9 });
    bombCache = Buffer.concat(Array.from({ length: 64 }, () => member));
  }
  return bombCache;
}

/** The largest regular file in a folder (the weights of a model, a data file of an index). */
function largestFile(dir: string): string {
  let best = '';
  let size = -1;
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile() && statSync(p).size > size) { best = p; size = statSync(p).size; }
    }
  };
  visit(dir);
  return best;
}

/** A shard of eight pairs (the fixtures' first eight, images and captions changed by `edit`), written once per suite run under `root`. */
const editedShards = new Map<string, Promise<string>>();
function shardsWith(name: string, root: string, fx: Fixtures, edit: (rec: PairRecord, i: number) => PairRecord): Promise<string> {
  let p = editedShards.get(name);
  if (!p) {
    p = (async () => {
      const out = join(root, `shared-${name}`);
      const w = await ShardWriter.open(shardPath(out, 0), { imageFormat: 'png' });
      let i = 0;
      for await (const rec of readShards(fx.shards)) {
        if (i >= 8) break;
        await w.write(edit(rec, i++));
      }
      await w.close();
      return out;
    })();
    editedShards.set(name, p);
  }
  return p;
}

/** 130 bytes that a renderer would rasterise at 16000 x 16000 (256 Mpx; `wit train` took 2 GB and over 240 s on eight). */
export const SVG_BOMB = '<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="16000" height="16000" fill="red"/></svg>';

export const INPUT_CLASSES: InputClass[] = [
  { name: 'missing', kinds: ALL, make: (dir, valid) => like(dir, valid, 'no-such-input') },
  {
    name: 'empty', kinds: ALL, make: (dir, valid) => {
      const p = like(dir, valid, 'empty');
      if (statSync(valid).isDirectory()) mkdirSync(p);
      else writeFileSync(p, '');
      return p;
    },
  },
  { name: 'device', kinds: ALL, make: () => '/dev/zero' },
  { name: 'fifo', kinds: ALL, make: (dir, valid) => mkfifo(like(dir, valid, 'fifo')) },
  {
    name: 'symlink-to-device', kinds: ALL, make: (dir, valid) => {
      const p = like(dir, valid, 'link');
      symlinkSync('/dev/zero', p);
      return p;
    },
  },
  {
    name: 'symlink-loop', kinds: ALL, make: (dir, valid) => {
      const p = like(dir, valid, 'loop');
      symlinkSync(p + '.other', p);
      symlinkSync(p, p + '.other');
      return p;
    },
  },
  {
    name: 'huge', kinds: [...FILE_KINDS, 'shards'], make: (dir, valid) => {
      if (!statSync(valid).isDirectory()) return sparse(like(dir, valid, 'huge'), 4 * 2 ** 30);
      const d = join(dir, 'huge-shards');
      mkdirSync(d);
      sparse(join(d, '00000.parquet'), 4 * 2 ** 30);
      return d;
    },
  },
  {
    name: 'truncated', kinds: ALL, make: (dir, valid) => {
      if (!statSync(valid).isDirectory()) {
        const p = like(dir, valid, 'truncated');
        const bytes = readFileSync(valid);
        writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
        return p;
      }
      const d = join(dir, 'truncated-' + basename(valid));
      cpSync(valid, d, { recursive: true });
      const victim = largestFile(d);
      truncateSync(victim, Math.floor(statSync(victim).size / 2));
      return d;
    },
  },
  {
    name: 'gzip-bomb', kinds: ['text', 'stream'], make: (dir, valid) => {
      const b = basename(valid);
      const p = join(dir, 'bomb-' + (b.endsWith('.gz') ? b : b + '.gz'));
      writeFileSync(p, gzipBomb());
      return p;
    },
  },
  {
    name: 'wrong-type', kinds: ALL, make: (dir, valid, fx) => {
      if (statSync(valid).isDirectory()) {
        const p = join(dir, 'a-file-not-a-folder');
        copyFileSync(fx.labels, p);
        return p;
      }
      // A folder where a file belongs, named like the file.
      const p = like(dir, valid, 'folder');
      mkdirSync(p);
      return p;
    },
  },
  {
    name: 'garbage', kinds: ['json', 'binary', 'shards', 'model'], make: (dir, valid) => {
      // Random bytes in place of the file (or of every file of the folder).
      const junk = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 2654435761 + seed) >>> 24));
      if (!statSync(valid).isDirectory()) {
        const p = like(dir, valid, 'garbage');
        writeFileSync(p, junk(4096, 7));
        return p;
      }
      const d = join(dir, 'garbage-' + basename(valid));
      cpSync(valid, d, { recursive: true });
      const victim = largestFile(d);
      writeFileSync(victim, junk(statSync(victim).size, 11));
      return d;
    },
  },
  { name: 'control-characters', kinds: ALL, make: (dir, valid) => join(dir, `evil\x1b[2J\x1b]0;pwned\x07name${extname(valid)}`) },
  // Bad items inside good shards (issue 26, class 3): every decoder goes through the one image
  // guard and every reader through the one caption limit, so the run stays small and ends.
  {
    name: 'vector-images', kinds: ['shards'], accept: [0, 1, 2],
    make: (dir, _valid, fx) => shardsWith('vector-images', dirname(dir), fx, (rec, i) => (i % 2 ? rec : { ...rec, image: new TextEncoder().encode(SVG_BOMB) })),
  },
  {
    name: 'huge-caption', kinds: ['shards'], accept: [0, 1, 2],
    make: (dir, _valid, fx) => shardsWith('huge-caption', dirname(dir), fx, (rec, i) => (i === 3 ? { ...rec, caption: 'word '.repeat(10 << 20) } : rec)),
  },
  // Metadata is data (issue 26, class 6): an index whose wit-index.json lists a path outside any
  // shard folder is refused, naming the file, before anything opens it.
  {
    name: 'index-escaping-paths', kinds: ['index'], make: (dir, valid) => {
      const d = join(dir, 'edited-index');
      cpSync(valid, d, { recursive: true });
      const metaFile = join(d, 'wit-index.json');
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { shards: string[]; finished: Record<string, unknown>; shard_sets?: Record<string, string> };
      const first = meta.shards[0]!;
      meta.shards = ['/etc/passwd', ...meta.shards.slice(1)];
      meta.finished = { '/etc/passwd': meta.finished[first], ...Object.fromEntries(Object.entries(meta.finished).filter(([k]) => k !== first)) };
      if (meta.shard_sets) delete meta.shard_sets[first];
      writeFileSync(metaFile, JSON.stringify(meta));
      return d;
    },
  },
];

// Issue 26, class 5: a shard under its final name without its completion record (NNNNN_stats.json),
// as a writer stopped by a full disk left it before writers wrote the record first: never read as finished.
INPUT_CLASSES.push({
  name: 'unfinished-shard', kinds: ['shards'], make: (dir, valid) => {
    const d = join(dir, 'unfinished-' + basename(valid));
    cpSync(valid, d, { recursive: true });
    const data = readdirSync(d).filter((n) => /^\d{5}\.(parquet|tar)$/.test(n)).sort();
    const first = data[0]!;
    copyFileSync(join(d, first), join(d, `99999${first.slice(5)}`));
    return d;
  },
});

/**
 * Output classes: what may already be at `--out`. `precious` is what must be unchanged afterwards;
 * `mentions`, what the one error line must say besides the path. A class with `runs` is not refused:
 * the command runs to its valid end (its `ok` exit code), and afterwards nothing in `gone` is left,
 * everything in `kept` is, and stderr matches `notice`.
 */
export interface OutputClass {
  name: string;
  kinds: Array<'dir' | 'file'>;
  runs?: true;
  make: (dir: string, fx: Fixtures, cmd: string[], kind: 'dir' | 'file') => { out: string; precious?: string; mentions?: string[]; gone?: string[]; kept?: string[]; notice?: RegExp };
}

/** A pid above Linux's default pid_max (2^22): never a live process, as a killed run's. */
export const DEAD_PID = 2 ** 22 + 4321;

/** The lock a run of `cmd` holds on `out` (src/util/output.ts, lockPathFor), as process `pid` wrote it. */
function plantLock(out: string, cmd: string[], pid: number, started = new Date(Date.now() - 1000)): string {
  const lock = join(dirname(out), `.${basename(out)}.wit-lock`);
  writeFileSync(lock, JSON.stringify({ format: 'wit-lock', pid, host: hostname(), started: started.toISOString(), command: cmd.join(' '), output: out, id: 'planted1' }));
  return lock;
}

export const OUTPUT_CLASSES: OutputClass[] = [
  {
    name: 'out-is-a-file', kinds: ['dir'], make: (dir) => {
      const p = join(dir, 'precious.txt');
      writeFileSync(p, 'the user\'s data\n');
      return { out: p, precious: p };
    },
  },
  { name: 'out-is-a-fifo', kinds: ['dir', 'file'], make: (dir) => ({ out: mkfifo(join(dir, 'out-fifo')) }) },
  {
    name: 'out-is-a-symlink-to-a-file', kinds: ['dir', 'file'], make: (dir) => {
      const target = join(dir, 'precious-target.txt');
      writeFileSync(target, 'the user\'s data\n');
      const p = join(dir, 'out-link');
      symlinkSync(target, p);
      return { out: p, precious: target };
    },
  },
  { name: 'out-is-a-device', kinds: ['dir', 'file'], make: () => ({ out: '/dev/full' }) },
  {
    name: 'out-is-a-foreign-folder', kinds: ['dir'], make: (dir) => {
      const p = join(dir, 'photos');
      mkdirSync(p);
      writeFileSync(join(p, 'holiday.jpg'), 'not wit\'s\n');
      return { out: p, precious: p };
    },
  },
  {
    name: 'out-is-another-commands-run', kinds: ['dir'], make: (dir, fx, cmd) => {
      // A model folder, unless the command makes models: then an index.
      const src = cmd[0] === 'train' || cmd.join(' ') === 'model import' ? fx.index : fx.model;
      const p = join(dir, 'other-run');
      cpSync(src, p, { recursive: true });
      return { out: p, precious: p };
    },
  },
];

// Issue 26. Class 1: a file output that wit did not write (a trained model's weights) is never replaced.
OUTPUT_CLASSES.push({
  name: 'out-is-a-file-wit-did-not-write', kinds: ['file'], make: (dir) => {
    const p = join(dir, 'model.weights.bin');
    writeFileSync(p, Buffer.from(Float32Array.from([1, 2, 3, 4]).buffer));
    return { out: p, precious: p, mentions: ['binary data (16 bytes)'] };
  },
});
// Class 2: another run writes there now (its lock, of a live pid: the test runner's): refused naming it.
OUTPUT_CLASSES.push({
  name: 'out-is-locked-by-a-running-run', kinds: ['dir', 'file'], make: (dir, _fx, cmd) => {
    const out = join(dir, 'out');
    const lock = plantLock(out, cmd, process.pid);
    return { out, precious: lock, mentions: [`is being written by another run (wit ${cmd.join(' ')}, pid ${process.pid} on ${hostname()}`] };
  },
});
// Classes 2 and 5: what a SIGKILLed run left: its stale lock and its temporaries. The rerun takes the
// lock over (one notice line), sweeps the temporaries and ends as a valid run does. Temporaries whose
// name carries another host's tag (`PID@TAG`: a writer on another host of a shared file system, whose
// pid means nothing here) are left alone.
OUTPUT_CLASSES.push({
  name: 'out-left-by-a-killed-run', kinds: ['dir', 'file'], runs: true, make: (dir, _fx, cmd, kind) => {
    const out = join(dir, 'out');
    const lock = plantLock(out, cmd, DEAD_PID);
    const gone: string[] = [];
    const kept: string[] = [];
    const here = hostTag();
    const other = here === 'abcdef01' ? '12345678' : 'abcdef01';
    const name = cmd.join(' ');
    if (name === 'model import' || name === 'model export') {
      // A set published as one (src/util/output.ts, publish): its temporary sibling folder.
      for (const owner of [`${DEAD_PID}`, `${DEAD_PID}@${here}`, `${DEAD_PID}@${other}`]) {
        const tmp = join(dir, `.out.wit-tmp-${owner}-abc123`);
        mkdirSync(tmp);
        writeFileSync(join(tmp, '.wit-output.json'), JSON.stringify({ format: 'wit-output', command: name, created_by: 'wit 0.1.0', created: new Date().toISOString(), complete: false }));
        (owner.endsWith(other) ? kept : gone).push(tmp);
      }
    } else if (kind === 'dir') {
      // The command's own earlier run (its marker), with a killed writer's temporaries inside.
      mkdirSync(out);
      writeFileSync(join(out, '.wit-output.json'), JSON.stringify({ format: 'wit-output', command: name, created_by: 'wit 0.1.0', created: new Date().toISOString(), complete: true }));
      for (const t of [`.00000.tar.tmp-${DEAD_PID}`, `.metrics.jsonl.tmp-${DEAD_PID}-abc123`, `.00001.tar.tmp-${DEAD_PID}@${here}`, `.00002.tar.tmp-${DEAD_PID}@${other}`]) {
        writeFileSync(join(out, t), 'half');
        (t.includes(other) ? kept : gone).push(join(out, t));
      }
      if (name === 'train') {
        // a checkpoint a killed (or resumed) train was writing
        const ck = join(out, 'checkpoints', `step-000001.tmp-${DEAD_PID}`);
        mkdirSync(ck, { recursive: true });
        writeFileSync(join(ck, 'model.json'), '{}');
        gone.push(ck);
      }
    } else {
      for (const owner of [`${DEAD_PID}`, `${DEAD_PID}@${here}`, `${DEAD_PID}@${other}`]) {
        const t = join(dir, `.out.tmp-${owner}-abc123`);
        writeFileSync(t, 'half');
        (owner.endsWith(other) ? kept : gone).push(t);
      }
    }
    gone.push(lock); // last: the temporaries are checked first
    return { out, gone, kept, notice: new RegExp(`^wit ${name}: note: .*took over the lock of a run that no longer runs \\(wit ${name}, pid ${DEAD_PID} `, 'm') };
  },
});

export const NON_FINITE = ['NaN', 'Infinity', '1e999'];

// img2dataset's files layout (a folder per shard): a member that is a symbolic link out of the
// folder, a FIFO named as an image and a folder named as a caption are never followed or opened
// (counted as irregular_member, the rest of the shard read), whatever reads the shards: every
// command reading shards (train, filter, eval, embed, convert, compare) runs to exit 0 on it.
INPUT_CLASSES.push({
  name: 'files-shard-links', kinds: ['shards'], accept: [0], make: async (dir, _valid, fx) => {
    const out = join(dir, 'files-shards');
    const w = await ShardWriter.open(shardPath(out, 0, '', 'files'), { imageFormat: 'png' });
    let i = 0;
    for await (const rec of readShards(fx.shards)) {
      if (i++ >= 8) break;
      await w.write(rec);
    }
    await w.close();
    const folder = shardPath(out, 0, '', 'files');
    symlinkSync('/etc/passwd', join(folder, 'zz-link.txt'));
    symlinkSync('/etc/passwd', join(folder, 'zz-link.png'));
    mkfifo(join(folder, 'zz-fifo.png'));
    mkdirSync(join(folder, 'zz-dir.txt'));
    return out;
  },
});
