import { ClipModel, initBackend, resolveArch, saveModelDir, trainTokenizer } from '../../src/train/index.js';

/**
 * Writes a real (untrained, seeded) vit-micro CLIP model directory: embeddings are those of a real
 * model, only not meaningful. `embedDim` changes the width (for the width-mismatch error).
 */
export async function writeRandomModel(dir: string, captions: string[], opts: { embedDim?: number; seed?: number } = {}): Promise<void> {
  await initBackend('cpu');
  const cfg = structuredClone(resolveArch('vit-micro'));
  if (opts.embedDim) cfg.embed_dim = opts.embedDim;
  const tok = trainTokenizer(captions, { vocabSize: 600, contextLength: cfg.text.context_length });
  cfg.text.vocab_size = tok.vocabSize;
  const model = ClipModel.create(cfg, 'clip', opts.seed ?? 7);
  try {
    await saveModelDir(dir, model, tok);
  } finally {
    model.dispose();
  }
}
