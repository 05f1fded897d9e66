import { whenTfLoads } from '../../util/tf.js';

/**
 * No library banners (docs/ARCHITECTURE.md, "Train and eval"): TensorFlow.js prints "Hi, looks like you
 * are running TensorFlow.js in Node.js…" to stderr the first time its plain-JS backend holds a tensor
 * (`wit model export` converts weights there), and a few notices of its own. Its PROD flag silences
 * those messages and changes nothing else in tfjs-core 4.x (it is read only by its warning helper).
 * Imported for its effect by every module that creates tensors before a backend is chosen: the backend
 * picker, the weights reader and the model; the flag is set when tfjs loads (on its first use, ../../util/tf.ts).
 */
whenTfLoads((tf) => tf.env().set('PROD', true));
