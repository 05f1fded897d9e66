/**
 * The one way a command claims its output path (docs/ARCHITECTURE.md, "Claiming an output").
 *
 * `claimOutput(path, { command })` looks at what `path` holds and refuses, with a UsageError (exit 2)
 * naming the path, anything the command must not write into: a file, device, FIFO, socket or a
 * symbolic link to one where a folder is wanted; a folder, device or link where a file is wanted; a
 * non-empty folder that is not this command's own earlier run; an existing file that is not this
 * command's own earlier output (FILE_SIGNATURES); a path that is, contains or lies inside one of the
 * command's inputs. A claim that passes holds the output's lock (`.NAME.wit-lock` beside it: one
 * writer per output, see `lockOutput`) until `claim.release()` or the end of the process. Then the
 * caller checks its inputs and calls `claim.create()` (a folder and its marker; temporaries of
 * killed runs swept) or `claim.publish(write)` (a multi-file output published as one set). wit never
 * deletes what it did not create.
 */
import { link, lstat, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, unlinkSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { UsageError } from './errors.js';
import { VERSION } from './version.js';

/** The marker wit writes into every output folder it creates. */
export const OUTPUT_MARKER = '.wit-output.json';

/** What the marker holds. */
export interface OutputMarker {
  format: 'wit-output';
  /** The command that made the folder: crawl, convert, train, model import, embed merge, … */
  command: string;
  /** e.g. "wit 0.1.0". */
  created_by: string;
  created: string;
  /** false while a set published by `publish` is being written (a partial set, never to be read). */
  complete: boolean;
}

export type OutputKind = 'folder' | 'file';

export interface ClaimOptions {
  /** The command claiming the path, as the user types it after `wit` (the marker's `command`). */
  command: string;
  /** Stage named in errors (default: the command's first word). */
  stage?: string;
  /** A folder (default) or a single file. */
  kind?: OutputKind;
  /** Input paths the output must not be, contain, or (folders) lie inside. */
  inputs?: readonly (string | undefined)[];
  /** Folders: may an earlier run of this same command be continued or replaced (default true)? */
  reuse?: boolean;
  /**
   * Folders published with `publish`: the names the set consists of. An earlier run holding any other
   * name is refused (replacing it would delete what wit did not write).
   */
  files?: readonly string[];
  /** Files: called when the file exists (and is this command's own); a string is the reason to refuse replacing it. */
  replaces?: (path: string) => Promise<string | undefined>;
  /** Files: the FILE_SIGNATURES entry that recognises an earlier output (default: the command). */
  signature?: string;
  /** Where the one-line notice of a stale lock taken over goes (default: stderr). */
  onNotice?: (line: string) => void;
}

/** What a claim found, and how to take the path. */
export interface OutputClaim {
  /** Absolute path written to (a folder link resolved to its target). */
  path: string;
  command: string;
  kind: OutputKind;
  /** 'new': nothing there; 'empty': an empty folder; 'own': this command's earlier run; 'file': this command's earlier file, to replace. */
  found: 'new' | 'empty' | 'own' | 'file';
  /**
   * Folders: makes the folder (and parents), writes the marker and sweeps the temporaries that killed
   * runs left in it (`sweepTemporaries`); files: makes the parent folder and sweeps the file's own
   * temporaries. Idempotent.
   */
  create(): Promise<void>;
  /** The output's lock, held since the claim. */
  lock: OutputLock;
  /** Releases the lock (idempotent; also done when the process exits). */
  release(): Promise<void>;
  /**
   * Folders: publishes a multi-file output as one set. `write` fills a hidden temporary sibling folder,
   * which is renamed into place when complete (an earlier own run is swapped out, then removed), so a
   * crash never leaves a mix. Temporary folders of killed runs of this command are swept first.
   */
  publish(write: (dir: string) => Promise<void>): Promise<void>;
}

/** Runs made by wit before the marker existed, recognised by their own state files (first match wins). */
const LEGACY: ReadonlyArray<readonly [string, (names: Set<string>, manifest: Record<string, unknown> | undefined, config: Record<string, unknown> | undefined) => boolean]> = [
  ['demo', (n) => n.has('.wit-demo')],
  ['convert', (_n, m) => m !== undefined && m.converted_from !== undefined],
  ['filter', (n, m) => m?.stage === 'filter' || n.has('.filter-work')],
  ['crawl', (_n, m) => m?.stage === 'crawl'],
  ['embed', (n) => n.has('wit-index.json')],
  ['train', (n) => n.has('train_state.json') || n.has('checkpoints') || n.has('metrics.jsonl')],
  ['model import', (n, _m, c) => c?.format === 'wit-clip' && n.has('model.json')],
  ['model export', (n) => n.has('open_clip_config.json') && n.has('open_clip_model.safetensors') && n.has('bpe_vocab.txt.gz')],
];

/**
 * Older runs whose files another command's legacy files look like: an index made by `wit embed merge`
 * looks like `wit embed`'s, a model directory without training metrics like an import's.
 */
const LEGACY_ALIASES: Record<string, readonly string[]> = { 'embed merge': ['embed'], train: ['model import'] };

async function readJsonObject(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The marker of a folder: undefined when absent; 'corrupt' when present but unreadable. */
export async function readOutputMarker(dir: string): Promise<OutputMarker | 'corrupt' | undefined> {
  const file = join(dir, OUTPUT_MARKER);
  const st = await lstat(file).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) return 'corrupt';
  const m = await readJsonObject(file);
  if (!m || m.format !== 'wit-output' || typeof m.command !== 'string') return 'corrupt';
  return m as unknown as OutputMarker;
}

/** Which wit command made a non-empty folder (its marker, else an older run's state files), or undefined. */
export async function folderOwner(dir: string, names: readonly string[]): Promise<{ command: string; legacy: boolean } | undefined> {
  const marker = await readOutputMarker(dir);
  if (marker === 'corrupt') return undefined;
  if (marker) return { command: marker.command, legacy: false };
  const set = new Set(names);
  const manifest = set.has('manifest.json') ? await readJsonObject(join(dir, 'manifest.json')) : undefined;
  const config = set.has('config.json') ? await readJsonObject(join(dir, 'config.json')) : undefined;
  for (const [command, test] of LEGACY) if (test(set, manifest, config)) return { command, legacy: true };
  if (typeof manifest?.stage === 'string' && manifest.stage) return { command: manifest.stage, legacy: true };
  return undefined;
}

/** What a non-directory is, in words. */
function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The path with symbolic links resolved as far as it exists (the rest appended), for comparing paths. */
async function canonical(p: string): Promise<string> {
  let head = resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...rest.reverse());
    } catch {
      const up = dirname(head);
      if (up === head) return join(head, ...rest.reverse());
      rest.push(basename(head));
      head = up;
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r) && !r.startsWith(`..${sep}`);
}

/** Refuses an output that is an input, contains one, or (folders) lies inside one. */
async function checkInputs(out: string, o: ClaimOptions, stage: string): Promise<void> {
  const c = await canonical(out);
  for (const input of o.inputs ?? []) {
    if (input === undefined) continue;
    const i = await canonical(input);
    if (c === i) throw new UsageError(stage, `is also an input (${input}); give another --out`, { file: out });
    if (isInside(i, c)) throw new UsageError(stage, `contains the input ${input}; give another --out`, { file: out });
    if ((o.kind ?? 'folder') === 'folder' && isInside(c, i)) throw new UsageError(stage, `lies inside the input ${input}; give another --out`, { file: out });
    // A file inside an input folder (the demo's report.html inside its run) is fine unless it has a
    // name that readers of the folder read as part of it (a shard, its stats, a model's files).
    if (isInside(c, i) && READ_NAMES.test(basename(c))) throw new UsageError(stage, `lies inside the input ${input}, where ${basename(c)} is read as part of it; give another --out`, { file: out });
  }
}

/** Names that readers of a run folder read as part of it: a file output inside an input may not take one. */
const READ_NAMES = /\.(parquet|tar|bin|safetensors|arrow|lance)$|_stats\.json$|^(manifest|config|model|tokenizer|train_state|wit-index|optimizer|open_clip_config)\.json$|^metrics\.jsonl$/;

/** Bytes of a file's head read to recognise it. */
const HEAD_BYTES = 8192;

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A JSON object file of at most `max` bytes, or undefined. */
async function smallJson(path: string, max = 64 * 2 ** 20): Promise<Record<string, unknown> | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st || st.size > max) return undefined;
  return readJsonObject(path);
}

/**
 * How wit recognises a file output it wrote, by command (`signature`): only such a file is replaced.
 * The report carries `<meta name="generator" content="wit …">` (older reports: their exact
 * Content-Security-Policy line); queries.tsv its header line; the summaries their own fields.
 */
export const FILE_SIGNATURES: Record<string, { what: string; test: (path: string, head: Buffer) => Promise<boolean> | boolean }> = {
  report: {
    what: 'a wit report',
    test: (_p, head) => {
      const h = head.toString('latin1');
      return /^<!doctype html>/i.test(h) && (/<meta name="generator" content="wit [^"]*report/.test(h) || h.includes(`content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"`));
    },
  },
  querygen: {
    what: 'a query list of wit querygen',
    test: (_p, head) => head.toString('latin1').split('\n', 1)[0]!.replace(/\r$/, '') === 'query\tsource\tcount',
  },
  'querygen summary': {
    what: 'a summary of wit querygen',
    test: async (p) => {
      const j = await smallJson(p);
      return j !== undefined && typeof j.summary_file === 'string' && typeof j.queries === 'number' && typeof j.by_source === 'object';
    },
  },
  eval: {
    what: 'a wit eval summary',
    test: async (p) => {
      const j = await smallJson(p);
      return j !== undefined && typeof j.zero_shot === 'object' && j.zero_shot !== null && Array.isArray(j.shards);
    },
  },
};

/** What a file holds, in words, from its head (for the refusal). */
export function describeFile(head: Buffer, size: number): string {
  const bytes = `${size} byte${size === 1 ? '' : 's'}`;
  if (size === 0) return 'an empty file';
  if (head.subarray(0, 4).toString('latin1') === 'PAR1') return `a Parquet file (${bytes})`;
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return `a tar archive (${bytes})`;
  if (head[0] === 0x1f && head[1] === 0x8b) return `gzip data (${bytes})`;
  if (head.length >= 10 && head.subarray(8, 10).toString('latin1') === '{"') return `safetensors weights (${bytes})`;
  const text = head.toString('utf8').trimStart();
  if (/^<(!doctype html|html)/i.test(text)) return `an HTML page that wit did not write (${bytes})`;
  if (text.startsWith('{') || text.startsWith('[')) return `JSON (${bytes})`;
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x08\x0e-\x1f]/.test(head.toString('latin1'))) return `text (${bytes})`;
  return `binary data (${bytes})`;
}

/*
 * One writer per output. The lock is a file `.NAME.wit-lock` beside the output holding
 * {format, pid, host, started, command, output, id}, made atomically: written complete under a
 * temporary name, then hard-linked to the lock name (link(2) fails when it exists). A lock whose
 * process no longer runs on this host (or whose pid now belongs to a process started after the lock)
 * is stale: it is moved aside (rename, atomic), checked to be the stale one, and removed, with a
 * one-line notice. A lock of another host cannot be judged by its pid: refused, naming the host,
 * with the way out (delete the lock file once that run is gone).
 */

/** What a lock file holds. */
export interface LockHolder {
  format: 'wit-lock';
  pid: number;
  host: string;
  started: string;
  command: string;
  output: string;
  /** Random, to tell this lock from another of the same pid. */
  id: string;
}

/** A held lock. */
export interface OutputLock {
  /** The lock file. */
  path: string;
  holder: LockHolder;
  /** Lets go (when the last claim of this process on the output lets go); idempotent. */
  release(): Promise<void>;
}

/** The lock file of an output: `.NAME.wit-lock` beside it. */
export function lockPathFor(out: string): string {
  return join(dirname(out), `.${basename(out)}.wit-lock`);
}

/** Locks held by this process, by lock path, with how many claims hold each. */
const held = new Map<string, { holder: LockHolder; count: number }>();
let exitHooked = false;

/** Removes this process's locks (the exit hook; synchronous). Only a lock file still holding our id is removed. */
function releaseAllSync(): void {
  for (const [p, h] of held) {
    try {
      if (readFileSync(p, 'utf8').includes(h.holder.id)) unlinkSync(p);
    } catch {
      /* gone already */
    }
  }
  held.clear();
}

async function readHolder(path: string): Promise<LockHolder | 'gone' | 'corrupt'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'corrupt';
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (h && h.format === 'wit-lock' && Number.isInteger(h.pid) && typeof h.host === 'string' && typeof h.id === 'string') return h;
  } catch {
    /* corrupt */
  }
  return 'corrupt';
}

/** When the process `pid` started (ms since the epoch), from /proc on Linux; undefined elsewhere. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22, starttime, counted from field 3
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return undefined;
    return (btime + ticks / 100) * 1000;
  } catch {
    return undefined;
  }
}

/** Whether the holder of a lock of this host still runs: its pid is alive and was not reused since. */
function holderRuns(h: LockHolder): boolean {
  if (h.pid === process.pid) return [...held.values()].some((x) => x.holder.id === h.id);
  if (!alive(h.pid)) return false;
  const started = processStartMs(h.pid);
  const locked = Date.parse(h.started);
  // A process that started after the lock was taken cannot hold it: the pid was reused (2 s for the clock's grain).
  return !(started !== undefined && Number.isFinite(locked) && started > locked + 2000);
}

function describeHolder(h: LockHolder): string {
  return `wit ${h.command}, pid ${h.pid} on ${h.host}, started ${h.started}`;
}

/**
 * Takes the lock of output `out` for this process (re-entrant: a second claim of the same output by
 * this process shares it). Throws UsageError (exit 2) naming the holder when another run holds it.
 */
export async function lockOutput(out: string, o: { command: string; stage?: string; onNotice?: (line: string) => void; shown?: string }): Promise<OutputLock> {
  const stage = o.stage ?? o.command.split(' ')[0]!;
  const shown = o.shown ?? out;
  const path = lockPathFor(out);
  const mine = held.get(path);
  const handle = (h: { holder: LockHolder; count: number; made?: string }): OutputLock => {
    let released = false;
    return {
      path, holder: h.holder,
      release: async () => {
        if (released) return;
        released = true;
        if (--h.count > 0) return;
        held.delete(path);
        const now = await readHolder(path);
        if (typeof now === 'object' && now.id === h.holder.id) await unlink(path).catch(() => undefined);
        // Folders made only to hold the lock go again when the run wrote nothing into them.
        if (h.made) for (let d = dirname(path); d.length >= h.made.length; d = dirname(d)) if (!(await rmdir(d).then(() => true, () => false))) break;
      },
    };
  };
  if (mine) {
    mine.count++;
    return handle(mine);
  }
  const holder: LockHolder = {
    format: 'wit-lock', pid: process.pid, host: hostname(), started: new Date().toISOString(), command: o.command, output: out,
    id: Math.random().toString(36).slice(2, 10),
  };
  // The first folder this makes (mkdir's answer), removed again on release if still empty.
  const made = await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(out)}.wit-lock-tmp-${tempOwner()}-${holder.id}`);
  // The lock's files are wit's business: a full disk or a read-only mount is reported as the output's,
  // and the empty file a full disk leaves goes (it lies beside the output, where no sweep of a folder looks).
  await writeFile(tmp, JSON.stringify(holder) + '\n', { flag: 'wx' }).catch(async (err: unknown) => {
    await unlink(tmp).catch(() => undefined);
    if (made) await removeMadeFolders(path, made);
    throw asOutputError(err, shown);
  });
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? err : asOutputError(err, shown);
        });
        const h = { holder, count: 1, made };
        held.set(path, h);
        if (!exitHooked) {
          exitHooked = true;
          process.once('exit', releaseAllSync);
        }
        return handle(h);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const other = await readHolder(path);
      if (other === 'gone') continue;
      const fix = `if no wit run writes there, delete ${path}`;
      if (other === 'corrupt') throw new UsageError(stage, `is locked by ${path}, which is not a lock wit can read; ${fix}`, { file: shown });
      if (other.host !== holder.host) {
        throw new UsageError(stage, `is being written by another run (${describeHolder(other)}); a run of another host cannot be checked from here: wait for it, or, if it is gone, delete ${path}`, { file: shown });
      }
      if (holderRuns(other)) throw new UsageError(stage, `is being written by another run (${describeHolder(other)}); wait for it to end or stop it`, { file: shown });
      // Stale: move it aside (atomic), make sure what moved is the stale lock, remove it.
      const aside = join(dirname(path), `.${basename(out)}.wit-lock-stale-${tempOwner()}-${holder.id}`);
      try {
        await rename(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = await readHolder(aside);
      if (typeof moved === 'object' && moved.id === other.id) {
        await unlink(aside).catch(() => undefined);
        (o.onNotice ?? ((l: string) => process.stderr.write(l + '\n')))(
          `wit ${o.command}: note: ${shown}: took over the lock of a run that no longer runs (${describeHolder(other)})`,
        );
      } else {
        // Another run took the stale lock over first and locked afresh: put its lock back.
        await link(aside, path).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
      }
    }
    throw new UsageError(stage, `could not take the lock ${path}: other runs keep taking it`, { file: shown });
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (made) await removeMadeFolders(path, made);
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Removes the folders lockOutput made for the lock (`made`: the first of them) while they are empty. */
async function removeMadeFolders(lockPath: string, made: string): Promise<void> {
  for (let d = dirname(lockPath); d.length >= made.length; d = dirname(d)) if (!(await rmdir(d).then(() => true, () => false))) break;
}

/**
 * A file-system error of the lock's own files (`.NAME.wit-lock-tmp-…`, the lock) as an error of
 * writing the output: the user gave `--out`, not the name of wit's lock file. Returns `err`.
 */
function asOutputError(err: unknown, out: string): unknown {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && !(err instanceof UsageError)) {
    e.path = out;
    e.syscall = 'write';
    delete e.dest;
  }
  return err;
}

/*
 * Who wrote a temporary: its name carries the writer's pid and a tag of its host (`PID@TAG`, see
 * tempOwner), because a pid says whether a writer still runs only on the host that ran it. On a file
 * system shared by several hosts (a distributed crawl's workers write into the coordinator's output),
 * a sweep removes only temporaries of this host whose process is gone; another host's are left alone
 * (hidden names no reader lists). Names without a tag (wit before the tag) are judged by their pid.
 */

let hostTagCache: string | undefined;

/** This host's tag in temporary names: 8 hex digits of the sha256 of its host name. */
export function hostTag(): string {
  return (hostTagCache ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8));
}

/** The owner part of every temporary name wit gives (`PID@TAG`): this process, on this host. */
export function tempOwner(): string {
  return `${process.pid}@${hostTag()}`;
}

/** Names wit gives temporaries: `.NAME.tmp-OWNER[-RAND]`, `NAME.tmp-OWNER` (checkpoints), `NAME.old-OWNER`, the lock's own; OWNER is `PID@TAG` (or a bare PID, from wit before the tag). */
const TEMP_NAME = /^(\.?)(.+)\.(tmp|old)-(\d+)(?:@([a-z0-9]{1,16}))?(?:-[A-Za-z0-9]{1,12})?$/;
const LOCK_TEMP_NAME = /^\.(.+)\.wit-lock-(tmp|stale)-(\d+)(?:@([a-z0-9]{1,16}))?-[a-z0-9]+$/;

/** Whether a temporary of `pid` (on the host tagged `tag`, when its name says) is of a run that is gone: only this host's can be judged. */
function ownerGone(pid: number, tag: string | undefined): boolean {
  if (tag !== undefined && tag !== hostTag()) return false;
  return !alive(pid);
}

/**
 * Removes the temporaries that killed runs left in `dir` (and, with `depth`, its subfolders): only
 * names wit gives them (TEMP_NAME, LOCK_TEMP_NAME), only of processes of this host no longer running
 * (a name tagged with another host is never removed: its pid cannot be judged here), and a
 * swapped-out `NAME.old-PID` only when `NAME` exists (else it is the only copy). `only` limits the
 * sweep to temporaries of one file name (a file output's). Run by `claim.create()`, with the
 * output's lock held, so no other run of this host writes there. Returns what was removed.
 */
export async function sweepTemporaries(dir: string, opts: { depth?: number; only?: string } = {}): Promise<string[]> {
  const removed: string[] = [];
  const visit = async (d: string, depth: number): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    const names = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      const m = TEMP_NAME.exec(e.name);
      const l = m ? undefined : LOCK_TEMP_NAME.exec(e.name);
      const base = m ? m[2]! : l?.[1];
      const pid = Number(m ? m[4] : l?.[3]);
      const tag = m ? m[5] : l?.[4];
      if (base !== undefined && (opts.only === undefined || base === opts.only) && ownerGone(pid, tag)) {
        if (!(m && m[3] === 'old' && !names.has(base))) {
          await rm(join(d, e.name), { recursive: true, force: true });
          removed.push(join(d, e.name));
          continue;
        }
      }
      if (depth > 1 && e.isDirectory() && !e.name.startsWith('.wit') && opts.only === undefined) await visit(join(d, e.name), depth - 1);
    }
  };
  await visit(dir, opts.depth ?? 1);
  return removed;
}

function marker(command: string, complete: boolean): string {
  const m: OutputMarker = { format: 'wit-output', command, created_by: `wit ${VERSION}`, created: new Date().toISOString(), complete };
  return JSON.stringify(m, null, 2) + '\n';
}

/** Whether a process with this id runs (a temporary folder of a live run is never swept). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const tempRe = (path: string) => new RegExp(`^\\.${basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.wit-(tmp|old)-(\\d+)(?:@([a-z0-9]{1,16}))?-[a-z0-9]+$`);

/** A hidden sibling name of `path` for a temporary (`tmp`) or swapped-out (`old`) folder. */
function siblingName(path: string, what: 'tmp' | 'old'): string {
  return join(dirname(path), `.${basename(path)}.wit-${what}-${tempOwner()}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Removes the temporary and swapped-out folders that killed runs of `command` left beside `path`:
 * only names wit gives them, only of processes of this host no longer running, only folders holding wit's marker
 * for this command.
 */
export async function sweepLeftovers(path: string, command: string): Promise<string[]> {
  const re = tempRe(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m || !ownerGone(Number(m[2]), m[3])) continue;
    const dir = join(dirname(path), n);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const mk = await readOutputMarker(dir);
    if (!mk || mk === 'corrupt' || mk.command !== command) continue;
    await rm(dir, { recursive: true, force: true });
    swept.push(dir);
  }
  return swept;
}

/**
 * Refuses a file target that exists and is not a regular file: renaming over it would replace a
 * device (`--out /dev/full` as root), a pipe, a socket, a folder or a symbolic link with our file.
 * Every atomic write (src/util/atomic.ts) checks its target with this. Resolves to the target's
 * lstat, or undefined when there is nothing there.
 */
export async function refuseNonRegularFile(path: string, stage = 'output'): Promise<Stats | undefined> {
  const lst = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (lst?.isSymbolicLink()) {
    const target = await stat(path).catch(() => undefined);
    if (!target) throw new UsageError(stage, 'is a broken symbolic link; give the path of a file to write', { file: path });
    throw new UsageError(stage, `is a symbolic link to ${kindOf(target)}; wit replaces a file by renaming, which would replace the link: give the target's own path`, { file: path });
  }
  if (lst && !lst.isFile()) throw new UsageError(stage, `is not a regular file (${kindOf(lst)}); refusing to replace it`, { file: path });
  return lst;
}

type Unlocked = Omit<OutputClaim, 'lock' | 'release'>;

async function claimFile(path: string, o: ClaimOptions, stage: string): Promise<Unlocked> {
  const lst = await refuseNonRegularFile(path, stage);
  await checkInputs(path, o, stage);
  const signature = o.signature ?? o.command;
  if (lst) {
    const sig = FILE_SIGNATURES[signature];
    const head = await readHead(path, HEAD_BYTES);
    if (!sig || !(await sig.test(path, head))) {
      throw new UsageError(stage, `exists and holds ${describeFile(head, lst.size)}, not ${sig?.what ?? `a file of wit ${o.command}`}: wit replaces only its own earlier output; give another --out (or delete the file)`, { file: path });
    }
  }
  if (lst && o.replaces) {
    const why = await o.replaces(path);
    if (why) throw new UsageError(stage, why, { file: path });
  }
  return {
    path, command: o.command, kind: 'file', found: lst ? 'file' : 'new',
    create: async () => {
      await mkdir(dirname(path), { recursive: true });
      await sweepTemporaries(dirname(path), { only: basename(path) });
    },
    publish: async () => {
      throw new Error('publish is for folder outputs');
    },
  };
}

async function claimFolder(given: string, o: ClaimOptions, stage: string): Promise<Unlocked> {
  await checkInputs(given, o, stage);
  let path = given;
  const lst = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  let found: OutputClaim['found'] = 'new';
  if (lst) {
    const st = lst.isSymbolicLink() ? await stat(path).catch(() => undefined) : lst;
    if (!st) throw new UsageError(stage, 'is a broken symbolic link, not a folder; give a new or empty folder as --out', { file: given });
    if (!st.isDirectory()) {
      const what = lst.isSymbolicLink() ? `a symbolic link to ${kindOf(st)}` : kindOf(st);
      throw new UsageError(stage, `is ${what}, not a folder; give a new or empty folder as --out`, { file: given });
    }
    if (lst.isSymbolicLink()) path = await realpath(path);
    const names = await readdir(path);
    if (names.length) {
      found = 'own';
      const owner = await folderOwner(path, names);
      const mk = await readOutputMarker(path);
      if (mk === 'corrupt') throw new UsageError(stage, `has an unreadable ${OUTPUT_MARKER}; give a new or empty --out`, { file: given });
      const mine = owner !== undefined && (owner.command === o.command || (owner.legacy && (LEGACY_ALIASES[o.command] ?? []).includes(owner.command)));
      if (!owner) throw new UsageError(stage, 'is not empty and was not made by wit; give a new or empty --out', { file: given });
      if (!mine) throw new UsageError(stage, `holds a ${owner.command} run, not a ${o.command} run; give a new or empty --out`, { file: given });
      if (o.reuse === false) throw new UsageError(stage, `already holds a ${o.command} run; give a new or empty --out (or delete it)`, { file: given });
      if (o.files) {
        const allowed = new Set([...o.files, OUTPUT_MARKER]);
        const foreign = names.filter((n) => !allowed.has(n));
        if (foreign.length) throw new UsageError(stage, `holds a ${o.command} run and also ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}, which wit did not write; give a new or empty --out`, { file: given });
      }
    } else {
      found = 'empty';
    }
  }
  const claim: Unlocked = {
    path, command: o.command, kind: 'folder', found,
    create: async () => {
      await mkdir(path, { recursive: true });
      if (!(await readOutputMarker(path))) await writeFile(join(path, OUTPUT_MARKER), marker(o.command, true));
      await sweepTemporaries(path, { depth: 3 });
    },
    publish: (write) => publishSet(claim, write, o.files ?? []),
  };
  return claim;
}

async function publishSet(claim: Unlocked, write: (dir: string) => Promise<void>, files: readonly string[]): Promise<void> {
  const { path, command } = claim;
  await mkdir(dirname(path), { recursive: true });
  await sweepLeftovers(path, command);
  const tmp = siblingName(path, 'tmp');
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, OUTPUT_MARKER), marker(command, false));
    await write(tmp);
    await writeFile(join(tmp, OUTPUT_MARKER), marker(command, true));
    if (claim.found !== 'own') {
      // Over nothing or an empty folder: rename(2) replaces an empty directory, and fails on a non-empty one.
      await rename(tmp, path);
      return;
    }
    const old = siblingName(path, 'old');
    await rename(path, old);
    await rename(tmp, path);
    // The earlier set holds only wit's names (checked by the claim): remove those, then the folder.
    for (const n of await readdir(old)) if (n === OUTPUT_MARKER || files.includes(n)) await rm(join(old, n), { force: true });
    await rmdir(old).catch(() => undefined);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Claims `path` as the output of `opts.command` (see the module comment). Writes nothing; throws
 * UsageError (exit 2) naming the path when the command must not write there.
 */
export async function claimOutput(path: string, opts: ClaimOptions): Promise<OutputClaim> {
  const stage = opts.stage ?? opts.command.split(' ')[0]!;
  const abs = resolve(path);
  const look = () => ((opts.kind ?? 'folder') === 'file' ? claimFile(abs, opts, stage) : claimFolder(abs, opts, stage));
  // Checked before the lock (a refused claim writes nothing), then again holding it: what another
  // run wrote before it let go is judged afresh.
  const first = await look();
  const lock = await lockOutput(first.path, { command: opts.command, stage, onNotice: opts.onNotice, shown: abs });
  try {
    const claim = await look();
    return { ...claim, lock, release: () => lock.release() };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/**
 * Whether `dir` is a set that `publish` left unfinished (its marker says complete: false): readers
 * of a published set refuse such a folder.
 */
export async function isPartialSet(dir: string): Promise<boolean> {
  const m = await readOutputMarker(dir);
  return m !== undefined && m !== 'corrupt' && m.complete === false;
}

/**
 * A point where tests stop the process as a kill would (`WIT_TEST_KILL_AT=NAME` sends SIGKILL to
 * itself there), to check that an output stopped midway is never taken for a complete one.
 */
export function testHook(name: string): void {
  if (process.env.WIT_TEST_KILL_AT === name) process.kill(process.pid, 'SIGKILL');
}
