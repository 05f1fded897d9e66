import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Candidate } from '../types.js';
import { jsonSafe, writeJsonAtomic } from '../../shards/index.js';
import { InputError } from '../../util/errors.js';
import { renameIntoPlace, tempPathFor } from '../../util/atomic.js';

/** One unit of work: a WARC/WAT file or seed, or one chunk of a url list. */
export interface JobSpec {
  /** Job name, unique in the run and stable across coordinator restarts (`i0003-c00012`). */
  job: string;
  /** What the worker reads: the input itself, or the chunk file cut from a url list. */
  input: string;
  /** Format to read `input` as (chunks are always jsonl); undefined: detect from the name. */
  inputFormat?: string;
  /** The input as given to the coordinator (for stats and the manifest). */
  source: string;
  /** Position of the chunk in its url list, and its first row. */
  chunk?: { index: number; firstRow: number; rows: number };
}

/** The coordinator's split of a run's inputs into jobs, saved so that a restart reuses it. */
export interface RunPlan {
  runId: string;
  jobs: JobSpec[];
  /** Candidates in the url-list chunks (WARC/WAT/seed inputs are counted as they run). */
  listCandidates: number;
  /** Unusable rows of the url lists by reason (they are not in any chunk). */
  badItems: Record<string, number>;
}

/** Options of {@link planJobs}. */
export interface PlanOptions {
  runId: string;
  inputs: readonly string[];
  /** Rows per url-list chunk. */
  chunkRows: number;
  /** Directory for the plan and the chunk files (shared by all workers: inside the output dir). */
  planDir: string;
  /** True for inputs that are url lists (split into chunks); others become one job each. */
  isUrlList: (input: string) => boolean;
  /** Reads a url list's candidates in order, reporting unusable rows to `onBadItem`. */
  readList: (input: string, onBadItem: (reason: string) => void) => AsyncIterable<Candidate>;
  /** Progress line sink (planning a big list takes a while). */
  log?: (line: string) => void;
  /**
   * Column names the workers read chunks with (`--url-col`, `--caption-col`, `--verify-hash-col`):
   * chunk rows are written under them, pass-through columns under their own names. Default url, caption.
   */
  columns?: { url: string; caption: string; hash?: string };
}

/** Job name of input `i`, chunk `c`. */
export function jobName(inputIndex: number, chunk?: number): string {
  const i = `i${String(inputIndex).padStart(4, '0')}`;
  return chunk === undefined ? i : `${i}-c${String(chunk).padStart(5, '0')}`;
}

async function writeChunk(path: string, rows: readonly Candidate[], columns: NonNullable<PlanOptions['columns']>): Promise<void> {
  const tmp = tempPathFor(path);
  const out = createWriteStream(tmp);
  for (const c of rows) {
    const row: Record<string, unknown> = { ...c.row?.extra, [columns.url]: c.url, [columns.caption]: c.caption };
    if (c.page_url) row.page_url = c.page_url;
    if (columns.hash && c.hash !== undefined) row[columns.hash] = c.hash;
    const line = JSON.stringify(row, jsonSafe) + '\n';
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  await renameIntoPlace(tmp, path);
}

/**
 * Splits the inputs into jobs: a url list becomes chunks of `chunkRows` candidates, each written
 * to `planDir/JOB.jsonl`; any other input is one job. The plan is saved as `planDir/plan.json`
 * last, so a coordinator restarted mid-planning redoes it and one restarted later reuses it (same
 * job names: nothing is enqueued twice). Throws InputError when an input cannot be read.
 */
export async function planJobs(opts: PlanOptions): Promise<RunPlan> {
  const planFile = join(opts.planDir, 'plan.json');
  try {
    const saved = JSON.parse(await readFile(planFile, 'utf8')) as RunPlan;
    if (saved.runId === opts.runId) return saved;
  } catch {
    // no plan yet (or a broken one): make it
  }
  await rm(opts.planDir, { recursive: true, force: true });
  await mkdir(opts.planDir, { recursive: true });
  const jobs: JobSpec[] = [];
  const badItems: Record<string, number> = {};
  const onBadItem = (reason: string) => { badItems[reason] = (badItems[reason] ?? 0) + 1; };
  let listCandidates = 0;
  for (let i = 0; i < opts.inputs.length; i++) {
    const input = opts.inputs[i]!;
    if (!opts.isUrlList(input)) {
      jobs.push({ job: jobName(i), input, source: input });
      continue;
    }
    let rows: Candidate[] = [];
    let chunk = 0;
    let first = 0;
    const flush = async (): Promise<void> => {
      const job = jobName(i, chunk);
      const path = join(opts.planDir, `${job}.jsonl`);
      await writeChunk(path, rows, opts.columns ?? { url: 'url', caption: 'caption' });
      jobs.push({ job, input: path, inputFormat: 'jsonl', source: input, chunk: { index: chunk, firstRow: first, rows: rows.length } });
      first += rows.length;
      chunk++;
      rows = [];
    };
    try {
      for await (const c of opts.readList(input, onBadItem)) {
        rows.push(c);
        if (!c.refused) listCandidates++; // a refused row rides along to be listed, it is no candidate
        if (rows.length >= opts.chunkRows) {
          await flush();
          opts.log?.(`planning: ${input}: ${first} rows in ${chunk} chunks`);
        }
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError('crawl', input, `cannot split url list into jobs: ${(err as Error).message}`, { cause: err });
    }
    if (rows.length || chunk === 0) await flush();
  }
  const plan: RunPlan = { runId: opts.runId, jobs, listCandidates, badItems };
  await writeJsonAtomic(planFile, plan);
  return plan;
}
