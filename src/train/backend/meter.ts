/**
 * Counts the floating-point operations of the matrix products wit's GEMM pool runs (the bulk of a
 * training step on the wasm backend), so that a long step can report how far it is while the main
 * thread is inside it: a listener is called from the product loop itself, at most every `everyMs`.
 */
let flops = 0;
let listener: (() => void) | undefined;
let nextAt = 0;
let everyMs = 0;

/** Adds one product's FLOPs (2·m·n·k per batch entry); may call the progress listener. */
export function countFlops(f: number): void {
  flops += f;
  if (listener && performance.now() >= nextAt) {
    nextAt = performance.now() + everyMs;
    listener();
  }
}

/** FLOPs counted since the process started. */
export function flopsCounted(): number {
  return flops;
}

/**
 * Calls `fn` from inside computations, first after `firstAfterMs`, then at most every `intervalMs`,
 * until the returned function is called. One listener at a time.
 */
export function watchCompute(fn: () => void, firstAfterMs: number, intervalMs: number): () => void {
  listener = fn;
  everyMs = intervalMs;
  nextAt = performance.now() + firstAfterMs;
  return () => {
    if (listener === fn) listener = undefined;
  };
}
