import { parentPort } from 'node:worker_threads';
import { sharp } from '../util/sharp.js';
import { decodeRgb, type CropSpec } from './preprocess.js';

/** One decode job; `bytes` is transferred. */
export interface DecodeJob {
  id: number;
  bytes: Uint8Array;
  size: number;
  crop?: CropSpec;
}

/** Reply: RGB bytes (transferred) or the reason the image failed. */
export type DecodeReply = { id: number; rgb: Uint8Array } | { id: number; error: string };

// Each worker is one decoding lane; sharp's own thread pool would oversubscribe the cores.
sharp.concurrency(1);

parentPort?.on('message', (job: DecodeJob) => {
  decodeRgb(job.bytes, job.size, job.crop).then(
    (rgb) => {
      const copy = rgb.byteOffset === 0 && rgb.byteLength === rgb.buffer.byteLength ? rgb : rgb.slice();
      parentPort!.postMessage({ id: job.id, rgb: copy } satisfies DecodeReply, [copy.buffer as ArrayBuffer]);
    },
    (err: unknown) => parentPort!.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies DecodeReply),
  );
});
