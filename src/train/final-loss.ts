/**
 * The one definition of a run's "final loss" (train's summary, the demo, the report): the mean loss
 * of the last FINAL_LOSS_STEPS steps, which a single noisy batch cannot swing.
 */
export const FINAL_LOSS_STEPS = 10;

/** Mean of the last FINAL_LOSS_STEPS values of `losses` (in step order); NaN when there are none. */
export function finalLoss(losses: readonly number[]): number {
  const last = losses.slice(-FINAL_LOSS_STEPS);
  return last.length ? last.reduce((a, b) => a + b, 0) / last.length : NaN;
}
