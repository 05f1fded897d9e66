/**
 * What querygen's phases share while a run goes on: the first failure (a failed worker task, or the
 * abort signal) and the progress line. Phases race their awaits against the abort with `guard`, and
 * observe every task promise the moment it exists with `track` (a rejection must not go unhandled
 * while the main thread is busy streaming a dump).
 */
import { Throttle, eta, formatCount, formatDuration } from '../util/progress.js';
import { WitError } from '../util/errors.js';
import type { TaskStats } from './protocol.js';

const MB = 1024 * 1024;

/** The first failure of a run and the abort signal, in one place. */
export class RunGuard {
  failure: unknown;
  private readonly aborted: Promise<never>;
  private onAbort: (() => void) | undefined;

  constructor(private readonly signal: AbortSignal | undefined) {
    this.aborted = new Promise<never>((_, reject) => {
      this.onAbort = () => reject(abortReason(signal));
      if (signal?.aborted) this.onAbort();
      else signal?.addEventListener('abort', this.onAbort, { once: true });
    });
    this.aborted.catch(() => {
      this.failure ??= new WitError('querygen', 'aborted');
    });
  }

  /** Records `p`'s rejection as the run's failure as soon as it happens; returns `p`. */
  track<T>(p: Promise<T>): Promise<T> {
    p.catch((err: unknown) => {
      this.failure ??= err;
    });
    return p;
  }

  /** `p`, or the abort if it comes first. */
  guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.aborted]);
  }

  /** Throws the abort reason when the signal has fired. */
  check(): void {
    if (this.signal?.aborted) throw abortReason(this.signal);
  }

  dispose(): void {
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  return signal?.reason instanceof Error ? signal.reason : new WitError('querygen', 'aborted');
}

/** Totals of what the workers read. */
export interface ReadTotals {
  pages: number;
  articles: number;
  redirects: number;
  otherNamespaces: number;
  xmlBytes: number;
  inBytes: number;
  tokens: number;
}

export function addStats(totals: ReadTotals, s: TaskStats): void {
  totals.pages += s.pages;
  totals.articles += s.articles;
  totals.redirects += s.redirects;
  totals.otherNamespaces += s.otherNamespaces;
  totals.xmlBytes += s.xmlBytes;
  totals.inBytes += s.inBytes;
  totals.tokens += s.tokens;
}

/** The status line: reading (percent, articles/s, MB/s, ETA), then the name of each later phase. */
export class QuerygenProgress {
  /** 'reading', then the phase names ('merging unigram counts', …). */
  phase = 'reading';
  readonly totals: ReadTotals = { pages: 0, articles: 0, redirects: 0, otherNamespaces: 0, xmlBytes: 0, inBytes: 0, tokens: 0 };
  /** Tasks under way (range tasks report as they go). */
  readonly live = new Map<number, { inBytes: number; xmlBytes: number; articles: number }>();
  /** Compressed bytes read by the main thread for the file it streams now. */
  streamedIn = 0;
  pageviewFilesDone = 0;
  private readonly throttle: Throttle;
  private readonly t0 = Date.now();

  constructor(
    onProgress: ((line: string) => void) | undefined,
    private readonly totalIn: number,
    private readonly pageviewFiles: number,
  ) {
    this.throttle = new Throttle(onProgress, () => this.line(), 1000);
  }

  tick(): void {
    this.throttle.tick();
  }

  /** Emits now: `line` when given (the run's last line, from its summary), else the current status. */
  final(line?: string): void {
    this.throttle.final(line);
  }

  /** Enters the next phase and says so. */
  enter(phase: string): void {
    this.phase = phase;
    this.throttle.tick();
  }

  private line(): string {
    const el = (Date.now() - this.t0) / 1000;
    if (this.phase !== 'reading') return `querygen: ${this.phase} (${formatDuration(el)})`;
    let inB = this.totals.inBytes + this.streamedIn;
    let xml = this.totals.xmlBytes;
    let art = this.totals.articles;
    for (const l of this.live.values()) {
      inB += l.inBytes;
      xml += l.xmlBytes;
      art += l.articles;
    }
    const pv = this.pageviewFiles > 0 ? ` | pageview files ${this.pageviewFilesDone}/${this.pageviewFiles}` : '';
    if (this.totalIn === 0) return `querygen:${pv.slice(2)} (${formatDuration(el)})`;
    const pct = ` ${((100 * inB) / this.totalIn).toFixed(1)}%`;
    return `querygen: wiki${pct} | ${formatCount(art)} articles (${formatCount(art / el)}/s) | ${(xml / MB).toFixed(0)} MB XML (${(xml / MB / el).toFixed(1)} MB/s)${pv} | ETA ${formatDuration(eta(inB, this.totalIn, el))}`;
  }
}
