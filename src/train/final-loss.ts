/**
 * The one definition of a run's "final loss" (train's summary, the demo, the report): the mean loss
 * of the last FINAL_LOSS_STEPS steps, which a single noisy batch cannot swing. And of its rate.
 */
export const FINAL_LOSS_STEPS = 10;

/** Mean of the last FINAL_LOSS_STEPS values of `losses` (in step order); NaN when there are none. */
export function finalLoss(losses: readonly number[]): number {
  const last = losses.slice(-FINAL_LOSS_STEPS);
  return last.length ? last.reduce((a, b) => a + b, 0) / last.length : NaN;
}

/**
 * The one definition of a run's samples/s (train's progress line and summary, the demo, the report):
 * the samples of its steps over the time of its steps, i.e. Σ batch / Σ step time, read from
 * metrics.jsonl lines as Σ batch / Σ (batch / samples_per_s). Not a mean or median of per-step rates,
 * which a few slow steps pull apart from it. 0 when no line has both numbers.
 */
export function runSamplesPerSec(lines: ReadonlyArray<{ batch?: unknown; samples_per_s?: unknown }>): number {
  let samples = 0;
  let seconds = 0;
  for (const l of lines) {
    if (typeof l.batch !== 'number' || typeof l.samples_per_s !== 'number' || !(l.samples_per_s > 0) || !Number.isFinite(l.samples_per_s)) continue;
    samples += l.batch;
    seconds += l.batch / l.samples_per_s;
  }
  return seconds > 0 ? samples / seconds : 0;
}
