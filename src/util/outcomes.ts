/**
 * Outcome counters, declared once (docs/ARCHITECTURE.md, "Shared helpers"). Every item a stage reads
 * ends in exactly one outcome: kept, or one reason under `failed` (tried and lost) or `skipped`
 * (decided without trying). A stage's totals, its shard stats and its summary all use these shapes,
 * so `candidates = kept + failed_total + skipped_total` is checked the same way everywhere.
 */
import { WitError } from './errors.js';

/** Counts by reason (reasons never seen are absent). */
export type ReasonCounts<R extends string = string> = Partial<Record<R, number>>;

/** The outcome totals of a run, a part of one, or one shard. */
export interface Outcomes<R extends string = string> {
  /** Items read. */
  candidates: number;
  /** Items that passed the stage's selection (the crawl: captions matching a query). */
  matched: number;
  /** Items admitted to the costly step (the crawl: downloads tried). */
  admitted: number;
  kept: number;
  failed: ReasonCounts<R>;
  skipped: ReasonCounts<R>;
}

/** Fresh zeroed outcomes. */
export function newOutcomes<R extends string = string>(): Outcomes<R> {
  return { candidates: 0, matched: 0, admitted: 0, kept: 0, failed: {}, skipped: {} };
}

/** Adds `n` to one reason. */
export function countReason<R extends string>(counts: ReasonCounts<R>, reason: R, n = 1): void {
  counts[reason] = ((counts[reason] as number | undefined) ?? 0) + n;
}

/** Adds every reason of `from` into `into`. */
export function addReasons<R extends string>(into: ReasonCounts<R>, from: ReasonCounts<R> | undefined): void {
  for (const [reason, n] of Object.entries(from ?? {}) as [R, number | undefined][]) countReason(into, reason, n ?? 0);
}

/** Sum of a ReasonCounts. */
export function sumCounts(counts: ReasonCounts): number {
  let total = 0;
  for (const v of Object.values(counts)) total += v ?? 0;
  return total;
}

/** Adds outcomes `from` into `into`. */
export function addOutcomes<R extends string>(into: Outcomes<R>, from: Outcomes<R>): void {
  into.candidates += from.candidates;
  into.matched += from.matched;
  into.admitted += from.admitted;
  into.kept += from.kept;
  addReasons(into.failed, from.failed);
  addReasons(into.skipped, from.skipped);
}

/** The snake_case totals written to summaries and stats: failed_total and skipped_total. */
export function outcomeTotals(o: Outcomes): { failed_total: number; skipped_total: number } {
  return { failed_total: sumCounts(o.failed), skipped_total: sumCounts(o.skipped) };
}

/**
 * Checks that every item ended in exactly one outcome; throws WitError naming the stage otherwise
 * (a bug, never bad input).
 */
export function checkOutcomes(stage: string, o: Outcomes): void {
  const { failed_total: failed, skipped_total: skipped } = outcomeTotals(o);
  if (o.candidates !== o.kept + failed + skipped) {
    throw new WitError(stage, `accounting error: ${o.candidates} candidates but ${o.kept} kept + ${failed} failed + ${skipped} skipped`);
  }
}
