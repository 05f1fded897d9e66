import type { ClipConfig } from '../train/config.js';

/**
 * Where wit's parameters and open_clip's state dict differ (docs/ARCHITECTURE.md, "Models in
 * open_clip's format"). The names are the same; wit keeps linear weights as [in, out] (x·W) where
 * torch keeps [out, in], and the patch embedding as a matrix over (py, px, channel) patches where
 * open_clip has a conv weight [width, 3, p, p].
 */

const TRANSPOSED = /(\.attn\.in_proj_weight|\.attn\.out_proj\.weight|\.mlp\.c_fc\.weight|\.mlp\.c_proj\.weight)$/;

/** The key of a wit parameter in open_clip's state dict (CustomTextCLIP puts the text tower under `text.`). */
export function torchKey(name: string, customText: boolean): string {
  if (!customText || name.startsWith('visual.') || name.startsWith('logit_')) return name;
  return `text.${name}`;
}

/** open_clip's shape of a wit parameter. */
export function torchShape(name: string, witShape: readonly number[], cfg: ClipConfig): number[] {
  if (name === 'visual.conv1.weight' && cfg.vision.type === 'vit') {
    const p = cfg.vision.patch_size;
    return [witShape[1]!, 3, p, p];
  }
  if (TRANSPOSED.test(name)) return [witShape[1]!, witShape[0]!];
  return [...witShape];
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** open_clip tensor (torch layout) -> wit layout. */
export function fromTorch(name: string, data: Float32Array, torch: readonly number[]): Float32Array {
  if (name === 'visual.conv1.weight' && torch.length === 4) {
    const [w, c, p] = torch as [number, number, number, number];
    const out = new Float32Array(data.length);
    // torch [w][c][py][px] -> wit [(py·p + px)·c + ch][w]
    for (let o = 0; o < w; o++) for (let ch = 0; ch < c; ch++) for (let py = 0; py < p; py++) for (let px = 0; px < p; px++) {
      out[((py * p + px) * c + ch) * w + o] = data[((o * c + ch) * p + py) * p + px]!;
    }
    return out;
  }
  if (TRANSPOSED.test(name)) return transpose(data, torch[0]!, torch[1]!);
  return data;
}

/** wit tensor -> open_clip layout (torch shape given). */
export function toTorch(name: string, data: Float32Array, torch: readonly number[]): Float32Array {
  if (name === 'visual.conv1.weight' && torch.length === 4) {
    const [w, c, p] = torch as [number, number, number, number];
    const out = new Float32Array(data.length);
    for (let o = 0; o < w; o++) for (let ch = 0; ch < c; ch++) for (let py = 0; py < p; py++) for (let px = 0; px < p; px++) {
      out[((o * c + ch) * p + py) * p + px] = data[((py * p + px) * c + ch) * w + o]!;
    }
    return out;
  }
  if (TRANSPOSED.test(name)) return transpose(data, torch[1]!, torch[0]!);
  return data;
}
