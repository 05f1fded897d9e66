/**
 * The one way a command claims its output path (docs/ARCHITECTURE.md, "Claiming an output").
 *
 * `claimOutput(path, { command })` looks at what `path` holds and refuses, with a UsageError (exit 2)
 * naming the path, anything the command must not write into: a file, device, FIFO, socket or a
 * symbolic link to one where a folder is wanted; a folder, device or link where a file is wanted; a
 * non-empty folder that is not this command's own earlier run; a path that is, contains or lies
 * inside one of the command's inputs. It writes nothing: the caller checks its inputs, then calls
 * `claim.create()` (a folder and its marker) or `claim.publish(write)` (a multi-file output
 * published as one set). wit never deletes what it did not create.
 */
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
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
  /** Files: called when the file exists; a string is the reason to refuse replacing it. */
  replaces?: (path: string) => Promise<string | undefined>;
}

/** What a claim found, and how to take the path. */
export interface OutputClaim {
  /** Absolute path written to (a folder link resolved to its target). */
  path: string;
  command: string;
  kind: OutputKind;
  /** 'new': nothing there; 'empty': an empty folder; 'own': this command's earlier run; 'file': a regular file to replace. */
  found: 'new' | 'empty' | 'own' | 'file';
  /** Folders: makes the folder (and parents) and writes the marker; files: makes the parent folder. Idempotent. */
  create(): Promise<void>;
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
  }
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

const tempRe = (path: string) => new RegExp(`^\\.${basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.wit-(tmp|old)-(\\d+)-[a-z0-9]+$`);

/** A hidden sibling name of `path` for a temporary (`tmp`) or swapped-out (`old`) folder. */
function siblingName(path: string, what: 'tmp' | 'old'): string {
  return join(dirname(path), `.${basename(path)}.wit-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Removes the temporary and swapped-out folders that killed runs of `command` left beside `path`:
 * only names wit gives them, only of processes no longer running, only folders holding wit's marker
 * for this command.
 */
export async function sweepLeftovers(path: string, command: string): Promise<string[]> {
  const re = tempRe(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m || alive(Number(m[2]))) continue;
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

async function claimFile(path: string, o: ClaimOptions, stage: string): Promise<OutputClaim> {
  const lst = await refuseNonRegularFile(path, stage);
  await checkInputs(path, o, stage);
  if (lst && o.replaces) {
    const why = await o.replaces(path);
    if (why) throw new UsageError(stage, why, { file: path });
  }
  return {
    path, command: o.command, kind: 'file', found: lst ? 'file' : 'new',
    create: async () => {
      await mkdir(dirname(path), { recursive: true });
    },
    publish: async () => {
      throw new Error('publish is for folder outputs');
    },
  };
}

async function claimFolder(given: string, o: ClaimOptions, stage: string): Promise<OutputClaim> {
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
  const claim: OutputClaim = {
    path, command: o.command, kind: 'folder', found,
    create: async () => {
      await mkdir(path, { recursive: true });
      if (!(await readOutputMarker(path))) await writeFile(join(path, OUTPUT_MARKER), marker(o.command, true));
    },
    publish: (write) => publishSet(claim, write, o.files ?? []),
  };
  return claim;
}

async function publishSet(claim: OutputClaim, write: (dir: string) => Promise<void>, files: readonly string[]): Promise<void> {
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
  return (opts.kind ?? 'folder') === 'file' ? claimFile(abs, opts, stage) : claimFolder(abs, opts, stage);
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
