/** Messages between querygen's main thread (index.ts) and its workers (count-worker.ts). */
import type { SpillFiles } from './counter.js';

export interface WorkerInit {
  id: number;
  tmpDir: string;
  partitions: number;
  budgetBytes: number;
}

/** Per-task counts of what was read. */
export interface TaskStats {
  pages: number;
  articles: number;
  redirects: number;
  otherNamespaces: number;
  /** Decompressed XML bytes. */
  xmlBytes: number;
  /** Compressed bytes of the task's input. */
  inBytes: number;
  tokens: number;
  sawHeader: boolean;
  sawFooter: boolean;
}

export type WorkerTask =
  | { type: 'chunk'; seq: number; file: string; data: Uint8Array; offset: number; inBytes: number }
  | { type: 'range'; seq: number; file: string; start: number; end: number; decoder: 'lbzip2' | 'bzip2' | 'js' }
  | { type: 'pageviews'; seq: number; file: string; domains: string[]; minHourlyViews: number; decoder: 'lbzip2' | 'bzip2' | 'js' }
  | { type: 'finish'; seq: number }
  | { type: 'mergeUni'; seq: number; partition: number; paths: string[]; minCount: number; rareMin: number; rareMax: number }
  | { type: 'mergeBi'; seq: number; partition: number; paths: string[]; min: number; max: number };

export type WorkerReply =
  | { type: 'done'; seq: number; stats: TaskStats }
  | { type: 'progress'; seq: number; inBytes: number; xmlBytes: number; articles: number }
  | { type: 'pageviews'; seq: number; titles: Array<[string, number]>; lines: number; kept: number; badLines: number; badExamples: string[]; nonArticles: number }
  | { type: 'spilled'; seq: number; files: SpillFiles; spills: number; spilledEntries: number; tokens: number }
  | { type: 'merged'; seq: number; kind: 'uni' | 'bi'; distinct: number; total: number; frequent: Array<[string, number]>; outFile: string; outEntries: number }
  | { type: 'error'; seq: number; kind: 'xml' | 'decode' | 'input' | 'other'; message: string; offset?: number; code?: string };
