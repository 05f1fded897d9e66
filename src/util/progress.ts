/**
 * Progress reporting for long commands. Library code receives a `ProgressSink` (or nothing) and
 * calls it with a one-line status; only the CLI decides where it goes (stderr).
 */
export type ProgressSink = (line: string) => void;

/** Seconds -> "1h02m", "3m05s", "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** 1234567 -> "1.23M". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/** ETA in seconds from done/total and elapsed seconds; NaN when unknown. */
export function eta(done: number, total: number | undefined, elapsedSec: number): number {
  if (!total || done <= 0) return NaN;
  return (elapsedSec * (total - done)) / done;
}

/**
 * Calls `sink` at most every `intervalMs` with the line `render()` makes; `final()` always emits.
 * Keeps the rate limiting out of the hot loops.
 */
export class Throttle {
  private last = 0;
  constructor(private readonly sink: ProgressSink | undefined, private readonly render: () => string, private readonly intervalMs = 1000) {}
  tick(): void {
    if (!this.sink) return;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.sink(this.render());
  }
  /** Emits now: `line` when given (the run's last line, made from its summary), else the rendered one. */
  final(line?: string): void {
    this.sink?.(line ?? this.render());
  }
}
