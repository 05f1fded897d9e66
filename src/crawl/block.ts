/**
 * One shard's worth of admitted candidates (a *block*, see pipeline.ts) and its output.
 *
 * Rows are written in admission order, whatever order their downloads finish in: each download's
 * outcome is held until the outcomes of every earlier admitted candidate of the block are in, then
 * drained in order. Two runs of the same crawl therefore write the same shard bytes (the stats
 * files differ only in their times). The window that bounds memory (pipeline.ts) counts a candidate
 * until it is drained, so held outcomes are bounded too.
 */
import type { ShardWriter, ShardStats, PairRecord, StatusRow } from '../shards/index.js';
import type { Candidate, FailureReason } from './types.js';
import { countReason, newOutcomes, outcomeTotals, type Outcomes, type ReasonCounts } from '../util/outcomes.js';
import { openCrawlShard, type ShardOutputOptions } from './shard-output.js';
import { DistinctCounter } from '../util/distinct.js';

/** How one admitted candidate ended. */
/**
 * What the crawl adds to a shard's `NNNNN_stats.json` besides the writer's counts (README.md, "Coming
 * from img2dataset", maps img2dataset's names to these).
 */
export interface CrawlShardStats {
  prefix: string;
  block: number;
  candidates: number;
  matched: number;
  admitted: number;
  /** Pairs kept (img2dataset's name). */
  successes: number;
  /** Distinct images (by sha256) among them. */
  distinct_images: number;
  failed: ReasonCounts<FailureReason>;
  skipped: ReasonCounts<FailureReason>;
  failed_total: number;
  skipped_total: number;
  queries_listed: number;
  estimated_false_duplicates: number;
}

export type DownloadOutcome = { ok: true; rec: PairRecord } | { ok: false; reason: FailureReason; detail?: string };

/** A shard finished by an earlier run: the admitted indices that were kept, and its stats. */
export interface FinishedShard {
  kept: Set<number>;
  /** The sha256 of each pair it holds (for the run's distinct images). */
  sha256: string[];
  stats: ShardStats;
}

/** Live totals of a run (shared by all parts, read by the progress line). */
export interface CrawlCounters extends Outcomes<FailureReason> {
  /** Admitted candidates whose outcome is known (kept or failed). */
  done: number;
  bytes: number;
  shards: number;
  resumedShards: number;
  /** Distinct images (by sha256) among the pairs kept, resumed shards' included. */
  images: DistinctCounter;
  /** Admitted candidates whose image bytes came from a WARC input, not a download (this run's). */
  fromWarc: number;
}

/** Fresh zeroed counters. */
export function newCounters(): CrawlCounters {
  return { ...newOutcomes<FailureReason>(), done: 0, bytes: 0, shards: 0, resumedShards: 0, images: new DistinctCounter(), fromWarc: 0 };
}

/** What a block needs from its part. */
export interface BlockContext {
  output: ShardOutputOptions;
  prefix: string;
  counters: CrawlCounters;
  /** Cap mode: failed downloads give their reservations back (two blocks later). */
  releaseFailures: boolean;
  /** Called once per admitted candidate when its outcome is drained (frees its window slot). */
  onDrained: () => void;
  /** Called when the block's shard is finished (written, or found finished on resume). */
  onFinished?: (stats: ShardStats, file: string) => void | Promise<void>;
  /** A stop discards the shards not finished yet. */
  signal?: AbortSignal;
}

/** One block: its counts, its ordered outcomes and its shard writer. */
export class Block {
  readonly outcomes: Outcomes<FailureReason> = newOutcomes<FailureReason>();
  /** Query ids of admitted candidates that failed (cap mode), released two blocks later. */
  toRelease: number[][] = [];
  /** Distinct images of this shard's pairs. */
  private readonly shardImages = new DistinctCounter();
  /** Pairs kept per query id. */
  readonly keptQueries = new Map<number, number>();
  /** Set when the block's output must be discarded (a stop, an error). */
  poisoned = false;
  admissionClosed = false;
  /** Estimated false duplicates among this block's candidates (the dedupe filter's estimate). */
  falseDuplicates = 0;
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  private readonly held = new Map<number, { outcome: DownloadOutcome; ids: number[] }>();
  private next = 0;
  private writer?: ShardWriter;
  private writes: Promise<void> = Promise.resolve();
  private finalizing = false;
  /**
   * Url-list rows of this block in input order with their outcome (README.md, "The shard format"):
   * skipped rows at once, admitted rows filled in when drained. Only kept when a row came from a list.
   */
  private readonly status: StatusRow[] = [];
  private readonly statusOf = new Map<number, StatusRow>();
  private listRows = false;

  constructor(readonly index: number, readonly file: string, private readonly ctx: BlockContext, readonly resumed?: FinishedShard) {
    this.done = new Promise<void>((resolve, reject) => { this.resolveDone = resolve; this.rejectDone = reject; });
    this.done.catch(() => undefined);
  }

  /** Counts a candidate skipped before download. */
  skip(reason: FailureReason, matched: boolean, c?: Candidate): void {
    if (c?.row) this.addStatus(c, null, reason);
    countReason(this.outcomes.skipped, reason);
    countReason(this.ctx.counters.skipped, reason);
    if (matched) this.countMatched();
  }

  /** Counts one candidate read. */
  countCandidate(): void {
    this.outcomes.candidates++;
    this.ctx.counters.candidates++;
  }

  /** Admits a matched candidate; returns its index within the block. */
  admit(): number {
    this.countMatched();
    this.ctx.counters.admitted++;
    return this.outcomes.admitted++;
  }

  /** Notes the url-list row of admitted candidate `idx` (its outcome is filled in when drained). */
  noteRow(idx: number, c: Candidate, key: string): void {
    if (c.row) this.statusOf.set(idx, this.addStatus(c, key, 'pending'));
  }

  /** Lists a url-list row refused before it became a candidate (its reason, no count: it is a bad item). */
  refusedRow(c: Candidate): void {
    if (c.refused && !this.resumed) this.addStatus(c, null, c.refused.reason, c.refused.detail);
  }

  /** Whether the block lists url-list rows (a block holding only refused rows still writes its shard). */
  get hasRows(): boolean {
    return this.listRows;
  }

  private addStatus(c: Candidate, key: string | null, status: string, message: string | null = null): StatusRow {
    this.listRows = true;
    const row: StatusRow = { key, url: c.url, caption: c.caption, page_url: c.page_url ?? null, status, error_message: message, extra: c.row?.extra };
    this.status.push(row);
    return row;
  }

  /** A candidate of a shard finished by an earlier run: its outcome comes from that shard. */
  replay(idx: number, ids: number[]): void {
    if (this.resumed!.kept.has(idx)) this.addKept(ids);
    else if (this.ctx.releaseFailures) this.toRelease.push(ids);
    this.next = idx + 1;
  }

  /** The outcome of admitted candidate `idx`; drains every outcome now complete, in order. */
  settle(idx: number, outcome: DownloadOutcome, ids: number[]): void {
    this.held.set(idx, { outcome, ids });
    for (let item = this.held.get(this.next); item; item = this.held.get(this.next)) {
      this.held.delete(this.next);
      this.drain(item.outcome, item.ids, this.next++);
      this.ctx.onDrained();
    }
    this.maybeFinalize();
  }

  /** No more candidates will be admitted to this block. */
  closeAdmission(): void {
    this.admissionClosed = true;
    this.maybeFinalize();
  }

  private countMatched(): void {
    this.outcomes.matched++;
    this.ctx.counters.matched++;
  }

  private addKept(ids: readonly number[]): void {
    for (const id of ids) this.keptQueries.set(id, (this.keptQueries.get(id) ?? 0) + 1);
  }

  private drain(outcome: DownloadOutcome, ids: number[], idx: number): void {
    const counters = this.ctx.counters;
    const row = this.statusOf.get(idx);
    if (row) {
      this.statusOf.delete(idx);
      row.status = outcome.ok ? 'success' : outcome.reason;
      row.error_message = outcome.ok ? null : outcome.detail ?? null;
      if (outcome.ok) row.record = { ...outcome.rec, image: new Uint8Array(0) }; // the metadata holds no image
    }
    if (outcome.ok) {
      const rec = outcome.rec;
      this.writes = this.writes.then(async () => {
        if (this.poisoned) return;
        this.writer ??= await openCrawlShard(this.file, this.ctx.output);
        await this.writer.write(rec);
      });
      this.outcomes.kept++;
      counters.kept++;
      counters.images.add(rec.sha256);
      this.shardImages.add(rec.sha256);
      this.addKept(ids);
    } else {
      countReason(this.outcomes.failed, outcome.reason);
      countReason(counters.failed, outcome.reason);
      if (this.ctx.releaseFailures) this.toRelease.push(ids);
    }
    counters.done++;
  }

  private maybeFinalize(): void {
    if (!this.admissionClosed || this.next < this.outcomes.admitted || this.finalizing) return;
    this.finalizing = true;
    this.finalize().then(this.resolveDone, this.rejectDone);
  }

  /** Writes the shard's footer and stats (or, for a shard of an earlier run, takes its outcomes). */
  private async finalize(): Promise<void> {
    if (this.resumed) return this.finalizeResumed();
    await this.writes;
    if (this.poisoned || this.ctx.signal?.aborted) {
      this.poisoned = true;
      await this.writer?.abort();
      return;
    }
    const writer = this.writer ?? (this.writer = await openCrawlShard(this.file, this.ctx.output));
    const o = this.outcomes;
    const stats: CrawlShardStats = {
      prefix: this.ctx.prefix,
      block: this.index,
      candidates: o.candidates,
      matched: o.matched,
      admitted: o.admitted,
      successes: o.kept,
      distinct_images: this.shardImages.size,
      failed: o.failed,
      skipped: o.skipped,
      ...outcomeTotals(o),
      queries_listed: [...this.keptQueries.values()].reduce((s, v) => s + v, 0),
      estimated_false_duplicates: this.falseDuplicates,
    };
    this.stats = await writer.close({ ...stats }, this.listRows ? this.status : undefined);
    this.writer = undefined; // closed: let its buffers go
    this.ctx.counters.shards++;
    await this.ctx.onFinished?.(this.stats, this.file);
  }

  private async finalizeResumed(): Promise<void> {
    const counters = this.ctx.counters;
    const failed = (this.resumed!.stats.failed ?? {}) as ReasonCounts<FailureReason>;
    for (const [reason, n] of Object.entries(failed) as [FailureReason, number][]) {
      countReason(this.outcomes.failed, reason, n);
      countReason(counters.failed, reason, n);
    }
    this.outcomes.kept = this.resumed!.kept.size;
    counters.kept += this.outcomes.kept;
    for (const d of this.resumed!.sha256) counters.images.add(d);
    counters.done += this.outcomes.admitted;
    counters.resumedShards++;
    counters.shards++;
    this.stats = this.resumed!.stats;
    await this.ctx.onFinished?.(this.stats, this.file);
  }

  /** Stats of the finished shard (after `done`). */
  stats?: ShardStats;
}
