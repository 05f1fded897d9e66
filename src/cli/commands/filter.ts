import type { CommandDef } from '../command.js';
import { filter, DROP_REASONS, type FilterSummary, type Backend } from '../../filter/index.js';
import { formatCount, formatDuration } from '../../util/progress.js';

/** Text rendering of a run's summary: fits one screen. */
export function renderFilterSummary(s: FilterSummary): string {
  const pct = (n: number) => (s.input ? `${((100 * n) / s.input).toFixed(1)}%` : '-');
  const lines: string[] = [];
  const how =
    s.mode === 'keep-fraction'
      ? `top ${(100 * (s.keepFraction ?? 0)).toFixed(1)}% by similarity (threshold ${s.threshold?.toFixed(4) ?? 'n/a'})`
      : s.mode === 'min-similarity'
        ? `similarity >= ${s.threshold}`
        : s.mode === 'score-only'
          ? 'scored, no similarity cut'
          : 'basic filters and dedup only';
  lines.push(`filter: ${formatCount(s.input)} pairs in, ${formatCount(s.kept)} kept (${pct(s.kept)}): ${how}`);
  const drops = DROP_REASONS.filter((r) => s.dropped[r] > 0).map((r) => `${r} ${formatCount(s.dropped[r])} (${pct(s.dropped[r])})`);
  lines.push(`dropped: ${drops.length ? drops.join(', ') : 'none'}`);
  if (s.mode !== 'basic') {
    const h = s.histogram;
    lines.push(`scored: ${formatCount(s.scored)} pairs${s.pairsPerSecond ? `, ${s.pairsPerSecond.toFixed(1)} pairs/s` : ''}; similarity mean ${h.mean?.toFixed(4) ?? '-'}, range ${h.lo?.toFixed(4) ?? '-'} .. ${h.hi?.toFixed(4) ?? '-'}`);
    const first = h.counts.findIndex((c) => c > 0);
    const last = h.counts.length - 1 - [...h.counts].reverse().findIndex((c) => c > 0);
    if (first >= 0) {
      const w = (h.max - h.min) / h.counts.length;
      const peak = Math.max(...h.counts);
      for (let i = first; i <= last; i++) {
        const lo = h.min + i * w;
        const bar = '#'.repeat(Math.round((40 * h.counts[i]!) / peak));
        const mark = s.threshold !== null && s.threshold >= lo && s.threshold < lo + w ? ' <- threshold' : '';
        lines.push(`  ${lo.toFixed(2).padStart(5)} .. ${(lo + w).toFixed(2).padStart(5)} ${String(h.counts[i]).padStart(8)} ${bar}${mark}`);
      }
    }
  }
  lines.push(`out: ${s.out} (${s.shards.written} shards written, ${s.shards.resumed} already done) in ${formatDuration(s.duration)}`);
  return lines.join('\n') + '\n';
}

export const command: CommandDef = {
  name: 'filter',
  summary: 'score pairs with a trained CLIP and keep the good ones (plus DataComp basic filters and exact dedup)',
  usage: 'wit filter --shards DIR… --out DIR [--model DIR (--min-similarity X | --keep-fraction F)] [--min-caption-words N] [--min-caption-chars N] [--min-image-side PX] [--max-aspect R] [--no-dedup]',
  flags: {
    model: { type: 'string', description: 'model directory written by wit train (needed to score)', metavar: 'DIR' },
    shards: { type: 'string[]', description: 'input shard files or directories', required: true, metavar: 'DIR…' },
    out: { type: 'string', description: 'output directory (one shard per input shard; rerun to resume)', required: true, metavar: 'DIR' },
    'min-similarity': { type: 'number', description: 'keep pairs whose cosine similarity is >= X (LAION: 0.28 with ViT-B/32)', metavar: 'X' },
    'keep-fraction': { type: 'number', description: 'keep exactly the top F of the scored pairs, 0 < F <= 1 (DataComp: 0.3)', metavar: 'F' },
    'min-caption-words': { type: 'int', description: 'drop captions with fewer words (DataComp basic: 3)', min: 0, metavar: 'N' },
    'min-caption-chars': { type: 'int', description: 'drop captions with fewer characters (DataComp basic: 6)', min: 0, metavar: 'N' },
    'min-image-side': { type: 'int', description: 'drop images whose shorter original side is smaller (DataComp basic: 200)', min: 0, metavar: 'PX' },
    'max-aspect': { type: 'number', description: 'drop images whose side ratio is larger (DataComp basic: 3)', min: 1, metavar: 'R' },
    dedup: { type: 'boolean', description: 'drop exact duplicates by image sha256 and by (url, caption), first wins (--no-dedup to keep them)', default: true },
    'batch-size': { type: 'int', description: 'pairs per encoder call', default: 64, min: 1 },
    backend: { type: 'string', description: 'TensorFlow.js backend for the model', default: 'auto', choices: ['auto', 'tensorflow', 'wasm', 'cpu'] },
    'output-format': { type: 'string', description: 'format of the output shards (default: the format of the input)', choices: ['parquet', 'webdataset'] },
  },
  async run(flags, ctx) {
    const summary = await filter({
      shards: flags.shards as string[],
      out: flags.out as string,
      model: flags.model as string | undefined,
      minSimilarity: flags.minSimilarity as number | undefined,
      keepFraction: flags.keepFraction as number | undefined,
      minCaptionWords: flags.minCaptionWords as number | undefined,
      minCaptionChars: flags.minCaptionChars as number | undefined,
      minImageSide: flags.minImageSide as number | undefined,
      maxAspect: flags.maxAspect as number | undefined,
      dedup: flags.dedup as boolean,
      batchSize: flags.batchSize as number,
      backend: flags.backend as Backend,
      outputFormat: flags.outputFormat as 'parquet' | 'webdataset' | undefined,
      signal: ctx.signal,
      onLog: ctx.log,
      onProgress: (p) =>
        ctx.progress(
          `filter ${p.phase}: shard ${p.shardsDone}/${p.shards}, ${formatCount(p.rows)}/${formatCount(p.rowsTotal)} rows${p.scored ? `, ${formatCount(p.scored)} scored` : ''}${p.phase === 'write' || p.kept ? `, ${formatCount(p.kept)} kept` : ''}${p.pairsPerSecond ? `, ${p.pairsPerSecond.toFixed(1)} pairs/s` : ''}, ${formatDuration(p.elapsed)}`,
        ),
    });
    return { summary: summary as unknown as Record<string, unknown>, text: renderFilterSummary(summary) };
  },
};
