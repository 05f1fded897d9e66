import { UsageError } from '../util/errors.js';
import { bytesToUnicode, mergesFileText } from '../train/clip-tokenizer.js';
import { EOS_ID, SOS_ID, type BpeTokenizer } from '../train/tokenizer.js';

/**
 * wit's trained BPE as CLIP's: the same byte-level scheme (256 bytes, 256 end-of-word bytes,
 * merges in rank order) with other ids. wit: 0 [PAD], 1 [SOS], 2 [EOS], 3 + byte, 259 + byte
 * (end of word), 515 + merge rank. CLIP: the byte symbols in bytes_to_unicode order, the same with
 * `</w>`, 512 + merge rank, then [SOT], [EOT]; padding is id 0 (never seen by the pooled [EOT]
 * under the causal mask), so wit's [PAD] row is dropped. Returns the merges file and, per CLIP id,
 * the wit row its embedding comes from.
 */
export function witBpeAsClip(tokenizer: BpeTokenizer, where: string): { merges: string; rowOf: Int32Array } {
  const table = bytesToUnicode();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  const symbol = new Map<number, string>();
  for (let b = 0; b < 256; b++) {
    symbol.set(3 + b, table[b]!);
    symbol.set(259 + b, `${table[b]!}</w>`);
  }
  const seen = new Set<string>(symbol.values());
  const lines: string[] = [];
  tokenizer.merges.forEach(([a, b], rank) => {
    const sa = symbol.get(a)!;
    const sb = symbol.get(b)!;
    if (sa.includes('</w>')) throw new UsageError('model', `cannot export the tokenizer: merge ${rank} continues after an end-of-word symbol`, { file: where });
    const joined = sa + sb;
    if (seen.has(joined)) throw new UsageError('model', `cannot export the tokenizer: merge ${rank} makes ${JSON.stringify(joined)} again, which CLIP's string vocabulary cannot tell apart`, { file: where });
    seen.add(joined);
    symbol.set(515 + rank, joined);
    lines.push(`${sa} ${sb}`);
  });
  if (lines.length > 48894) throw new UsageError('model', `cannot export the tokenizer: ${lines.length} merges, open_clip's SimpleTokenizer reads at most 48,894`, { file: where });
  const rowOf = new Int32Array(512 + lines.length + 2);
  order.forEach((b, i) => {
    rowOf[i] = 3 + b;
    rowOf[256 + i] = 259 + b;
  });
  for (let r = 0; r < lines.length; r++) rowOf[512 + r] = 515 + r;
  rowOf[512 + lines.length] = SOS_ID;
  rowOf[513 + lines.length] = EOS_ID;
  return { merges: mergesFileText(lines), rowOf };
}
