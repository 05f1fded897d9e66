import type { CommandDef } from '../command.js';
import { filter, DROP_REASONS, FILTER_OPTIONS, type FilterSummary } from '../../filter/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { formatCount, formatDuration } from '../../util/progress.js';

/** Text rendering of a run's summary: fits one screen. */
export function renderFilterSummary(s: FilterSummary): string {
  const pct = (n: number) => (s.input ? `${((100 * n) / s.input).toFixed(1)}%` : '-');
  const lines: string[] = [];
  const how =
    s.mode === 'keep-fraction'
      ? `top ${(100 * (s.keep_fraction ?? 0)).toFixed(1)}% by similarity (threshold ${s.threshold?.toFixed(4) ?? 'n/a'})`
      : s.mode === 'min-similarity'
        ? `similarity >= ${s.threshold}`
        : s.mode === 'score-only'
          ? 'scored, no similarity cut'
          : 'basic filters and dedup only';
  lines.push(`filter: ${formatCount(s.input)} pairs in, ${formatCount(s.kept)} kept (${pct(s.kept)}): ${how}`);
  // One image under several captions is one distinct image (by sha256): pairs say how much text, these how much to see.
  lines.push(`distinct images: ${formatCount(s.distinct_images_in)} in, ${formatCount(s.distinct_images)} kept`);
  const drops = DROP_REASONS.filter((r) => s.dropped[r] > 0).map((r) => `${r} ${formatCount(s.dropped[r])} (${pct(s.dropped[r])})`);
  lines.push(`dropped: ${drops.length ? drops.join(', ') : 'none'}`);
  // The steps in the order they run: each sees only what the earlier ones passed on.
  const steps = (s.steps ?? []).filter((st) => st.dropped > 0);
  if (steps.length) lines.push(`steps, in order: ${steps.map((st) => `${st.step} ${formatCount(st.pairs_in)} -> ${formatCount(st.pairs_out)}`).join(', ')}`);
  if (s.mode === 'keep-fraction' && s.keep_fraction !== null && s.scored < s.input) {
    lines.push(`--keep-fraction ${s.keep_fraction} is a fraction of the ${formatCount(s.scored)} pairs the earlier steps left (${pct(s.scored)} of the input), so ${pct(s.kept)} of the input is kept`);
  }
  if (s.dedup_semantic !== null) lines.push(`semantic dedup: image cosine >= ${s.dedup_semantic} to an earlier-kept pair; ${formatCount(s.dropped.near_duplicate)} near-duplicates (listed in each shard's stats)`);
  if (s.mode !== 'basic') {
    const h = s.histogram;
    lines.push(`scored: ${formatCount(s.scored)} pairs${s.pairs_per_second ? `, ${s.pairs_per_second.toFixed(1)} pairs/s` : ''}; similarity mean ${h.mean?.toFixed(4) ?? '-'}, range ${h.lo?.toFixed(4) ?? '-'} .. ${h.hi?.toFixed(4) ?? '-'}`);
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
  usage: 'wit filter --shards DIR… --out DIR [--model DIR (--min-similarity X | --keep-fraction F) [--dedup-semantic T]] [--min-caption-words N] [--min-caption-chars N] [--min-image-side PX] [--max-aspect R] [--no-dedup]',
  flags: groupFlags(flagSpecs(FILTER_OPTIONS), {
    input: ['shards', 'model'],
    similarity: ['min-similarity', 'keep-fraction'],
    'basic filters': ['min-caption-words', 'min-caption-chars', 'min-image-side', 'max-aspect'],
    dedup: ['dedup', 'dedup-semantic'],
    output: ['out', 'output-format'],
    performance: ['batch-size', 'backend', 'device'],
  }),
  examples: [
    { what: "DataComp's CLIP score filter: the top 30 % of the pairs by similarity", cmd: 'wit filter --shards shards/ --model model/ --keep-fraction 0.3 --out filtered/' },
    { what: "LAION's threshold with ViT-B/32, plus DataComp's basic filters", cmd: 'wit filter --shards shards/ --model vit-b-32/ --min-similarity 0.28 --min-caption-words 3 --min-image-side 200 --max-aspect 3 --out filtered/' },
    { what: 'without a model: basic filters and exact dedup only', cmd: 'wit filter --shards shards/ --min-caption-chars 6 --out filtered/' },
    { what: 'drop near-duplicate images too (image cosine >= 0.95 to a kept pair)', cmd: 'wit filter --shards shards/ --model model/ --dedup-semantic 0.95 --out deduped/' },
  ],
  async run(flags, ctx) {
    const summary = await filter({
      ...optionsFromFlags(FILTER_OPTIONS, flags),
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
