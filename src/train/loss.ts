import { tf } from '../util/tf.js';

/**
 * Contrastive losses as pure functions of the normalised features (open_clip's loss.py split):
 * no state, no variables, usable inside tf.variableGrads and on plain tensors in tests.
 */

/**
 * CLIP's symmetric InfoNCE: logits = scale · I Tᵀ, cross-entropy over rows (image→text) and over
 * columns (text→image) with the diagonal as the target, averaged.
 * imageFeatures, textFeatures: [B, E] (normalised); logitScale: scalar, already exponentiated.
 * Returns a scalar tensor.
 */
export function clipLoss(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.mul(tf.matMul(imageFeatures, textFeatures, false, true), logitScale) as tf.Tensor2D; // [B, B]
    const n = logits.shape[0];
    // log_softmax row-wise: the diagonal of each gives -CE of that row.
    const diag = (t: tf.Tensor2D): tf.Tensor1D => tf.sum(tf.mul(t, tf.eye(n)), 1) as tf.Tensor1D;
    const rowLse = tf.logSumExp(logits, 1); // [B]
    const colLse = tf.logSumExp(logits, 0); // [B]
    const d = diag(logits);
    const imgToText = tf.mean(tf.sub(rowLse, d));
    const textToImg = tf.mean(tf.sub(colLse, d));
    return tf.div(tf.add(imgToText, textToImg), 2) as tf.Scalar;
  });
}

/**
 * SigLIP's pairwise sigmoid loss: logits = t · I Tᵀ + b, labels +1 on the diagonal and -1
 * elsewhere, L = -(1/B) Σᵢⱼ log σ(zᵢⱼ · logitsᵢⱼ). logitScale is t = exp(t'), logitBias is b.
 * Returns a scalar tensor.
 */
export function siglipLoss(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number, logitBias: tf.Scalar | number): tf.Scalar {
  return tf.tidy(() => {
    const n = imageFeatures.shape[0];
    const logits = tf.add(tf.mul(tf.matMul(imageFeatures, textFeatures, false, true), logitScale), logitBias); // [B, B]
    const labels = tf.sub(tf.mul(tf.eye(n), 2), 1); // [B, B], +1 diag, -1 off
    // -log σ(x) = softplus(-x), stable for large |x|.
    return tf.div(tf.sum(tf.softplus(tf.neg(tf.mul(labels, logits)))), n) as tf.Scalar;
  });
}
