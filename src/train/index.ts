/** The train stage: CLIP in TensorFlow.js (model, tokenizer, losses, data, loop, inference handle). */
export { train, trainStep, lossOf, trainOptions, type TrainOptions, type TrainSummary, type TrainState, type MetricsLine } from './train.js';
export { stepFlops, forwardFlops, measureGflops } from './cost.js';
export { loadClip, clipHandle, EMBED_BATCH_SIZE, type ClipHandle, type LoadClipOptions } from './clip.js';
export { clipLoss, siglipLoss } from './loss.js';
export { ClipModel, parameterSpecs, decays, MAX_LOG_LOGIT_SCALE, type ClipOutput, type LossKind } from './model.js';
export { ARCHS, ACTIVATIONS, resolveArch, validateConfig, withOverrides, type Activation, type ClipConfig, type VitConfig, type ResNetConfig, type TextConfig } from './config.js';
export { BpeTokenizer, trainTokenizer, cleanText, preTokenize, PAD_ID, SOS_ID, EOS_ID, type TokenizerJson, type TextTokenizer } from './tokenizer.js';
export { ClipTokenizer, clipCleanText, type ClipTokenizerJson } from './clip-tokenizer.js';
export { ImageDecoder, defaultDecodeWorkers, type ImageDecoderOptions } from './decoder.js';
export { decodeRgb, normalizeInto, sampleCrop, cropRect, CLIP_MEAN, CLIP_STD, DEFAULT_CROP_RANGE, type CropSpec, type CropRange } from './preprocess.js';
export { BatchLoader, shuffledPairs, countRows, type Batch, type StreamPosition } from './data.js';
export { AdamW, learningRate, clipByGlobalNorm, type AdamWOptions } from './optim.js';
export { loadModelDir, saveModelDir, readModelConfig, listCheckpoints, checkpointDir, type ModelDirConfig } from './model-dir.js';
export { initBackend, type BackendName } from './backend/index.js';
