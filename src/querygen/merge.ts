/**
 * querygen's counting phases after reading: every worker spills what it holds, the unigram runs are
 * merged one hash partition per worker (frequent words come back; the rare words a passing bigram can
 * hold go to a file), the bigram runs likewise (only pairs that can reach --min-pmi), and the
 * candidate pairs are scored by PMI against the rare words' counts.
 */
import { RunReader } from './runs.js';
import { byCountDesc, maxPairedCount, pmi } from './select.js';
import type { WorkerPool } from './pool.js';
import type { QuerygenProgress, RunGuard } from './run-state.js';
import type { Thresholds } from './options.js';

/** Spilled run files per partition. */
interface Spilled {
  spills: number;
  unigram: string[][];
  bigram: string[][];
}

export interface MergedCounts {
  /** Unigrams with count >= minCount, most frequent first. */
  unigrams: Array<[string, number]>;
  distinctUnigrams: number;
  /** Bigrams with PMI >= minPmi: [pair, count, pmi], best first. */
  bigrams: Array<[string, number, number]>;
  /** null when no pair could reach minPmi (the bigram runs were then not merged). */
  distinctBigrams: number | null;
  /** Pairs whose PMI was computed. */
  bigramCandidates: number;
  spills: number;
}

/** Runs the phases above; `tokens` is N, the token total of PMI. */
export async function mergeCounts(t: Thresholds, workers: number, tokens: number, pool: WorkerPool, progress: QuerygenProgress, guard: RunGuard): Promise<MergedCounts> {
  progress.enter('merging unigram counts');
  const spilled = await spillAll(workers, pool, guard);
  const pairMax = maxPairedCount(tokens, t.minPmi);
  // Without a possible pair (N/2^minPmi < minBigramCount, e.g. any dump under ~2e9 tokens at PMI 30)
  // the bigram runs are not even merged.
  const wantBigrams = pairMax >= t.minBigramCount;
  const uni = await mergeUnigrams(spilled.unigram, t, wantBigrams ? pairMax : 0, pool, guard);
  progress.enter('merging bigram counts');
  const bi = wantBigrams ? await mergeBigrams(spilled.bigram, t.minBigramCount, pairMax, pool, guard) : { distinct: null, candidateFiles: [] };
  let scored = { pairs: [] as Array<[string, number, number]>, candidates: 0 };
  if (bi.candidateFiles.length > 0) {
    progress.enter('scoring bigrams');
    scored = scoreBigrams(uni.rareFiles, bi.candidateFiles, tokens, t.minPmi);
  }
  return { unigrams: uni.frequent, distinctUnigrams: uni.distinct, bigrams: scored.pairs, distinctBigrams: bi.distinct, bigramCandidates: scored.candidates, spills: spilled.spills };
}

/** Every worker writes what it holds as sorted runs; the run files are grouped by partition. */
async function spillAll(workers: number, pool: WorkerPool, guard: RunGuard): Promise<Spilled> {
  const replies = await guard.guard(Promise.all(Array.from({ length: workers }, (_, i) => pool.run({ type: 'finish' }, { on: i }))));
  const out: Spilled = { spills: 0, unigram: Array.from({ length: workers }, () => []), bigram: Array.from({ length: workers }, () => []) };
  for (const r of replies) {
    if (r.type !== 'spilled') continue;
    out.spills += r.spills;
    r.files.unigram.forEach((fs, p) => out.unigram[p]!.push(...fs));
    r.files.bigram.forEach((fs, p) => out.bigram[p]!.push(...fs));
  }
  return out;
}

async function mergeUnigrams(files: string[][], t: Thresholds, rareMax: number, pool: WorkerPool, guard: RunGuard) {
  const rareMin = rareMax > 0 ? t.minBigramCount : 1;
  const replies = await guard.guard(Promise.all(files.map((paths, partition) => pool.run({ type: 'mergeUni', partition, paths, minCount: t.minCount, rareMin, rareMax }))));
  guard.check();
  const frequent: Array<[string, number]> = [];
  let distinct = 0;
  const rareFiles: string[] = [];
  for (const r of replies) {
    if (r.type !== 'merged') continue;
    distinct += r.distinct;
    for (const e of r.frequent) frequent.push(e);
    if (r.outEntries > 0) rareFiles.push(r.outFile);
  }
  frequent.sort(byCountDesc);
  return { frequent, distinct, rareFiles };
}

async function mergeBigrams(files: string[][], min: number, max: number, pool: WorkerPool, guard: RunGuard) {
  const replies = await guard.guard(Promise.all(files.map((paths, partition) => pool.run({ type: 'mergeBi', partition, paths, min, max }))));
  guard.check();
  let distinct = 0;
  const candidateFiles: string[] = [];
  for (const r of replies) {
    if (r.type !== 'merged') continue;
    distinct += r.distinct;
    if (r.outEntries > 0) candidateFiles.push(r.outFile);
  }
  return { distinct, candidateFiles };
}

/** PMI of every candidate pair against the rare words (the only words a passing pair can hold). */
function scoreBigrams(rareFiles: string[], candidateFiles: string[], tokens: number, minPmi: number) {
  const rare = new Map<string, number>();
  for (const f of rareFiles) {
    const rr = new RunReader(f);
    while (rr.next()) rare.set(rr.key, rr.count);
  }
  const pairs: Array<[string, number, number]> = [];
  let candidates = 0;
  for (const f of candidateFiles) {
    const rr = new RunReader(f);
    while (rr.next()) {
      candidates++;
      const sp = rr.key.indexOf(' ');
      const cx = rare.get(rr.key.slice(0, sp));
      const cy = rare.get(rr.key.slice(sp + 1));
      if (cx === undefined || cy === undefined) continue;
      const score = pmi(rr.count, cx, cy, tokens);
      if (score >= minPmi) pairs.push([rr.key, rr.count, score]);
    }
  }
  // best first: PMI, then count, then the pair itself (deterministic)
  pairs.sort((a, b) => b[2] - a[2] || b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { pairs, candidates };
}
