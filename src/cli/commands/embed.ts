import type { CommandDef } from '../command.js';
import { embed, EMBED_OPTIONS, type EmbedSummary } from '../../search/index.js';
import { flagSpecs, optionsFromFlags } from '../../util/options.js';
import { formatCount, formatDuration } from '../../util/progress.js';

/** One screen about the run. */
export function renderEmbedSummary(s: EmbedSummary): string {
  const ann = s.ann.kind === 'none' ? 'exact scan (small table)' : `${s.ann.kind} index`;
  return [
    `embed: ${formatCount(s.rows)} pairs in ${s.index} (${s.embed_dim}-d ${s.dtype}, ${ann})`,
    `  skipped: ${s.skipped.undecodable} undecodable images`,
    `  shards: ${s.shards.embedded} embedded, ${s.shards.resumed} already done; ${s.pairs_per_second ? `${s.pairs_per_second.toFixed(1)} pairs/s, ` : ''}${formatDuration(s.duration)}`,
    `  search it: wit search --index ${s.index} "a red apple"   or   wit serve --index ${s.index}`,
  ].join('\n') + '\n';
}

export const command: CommandDef = {
  name: 'embed',
  summary: 'normalised image and text embeddings of every pair into a LanceDB vector index',
  usage: 'wit embed --model DIR --shards DIR… --out INDEX [--dtype float16|float32]',
  flags: flagSpecs(EMBED_OPTIONS),
  async run(flags, ctx) {
    const summary = await embed({
      ...optionsFromFlags(EMBED_OPTIONS, flags),
      signal: ctx.signal,
      onLog: ctx.log,
      onProgress: (p) => ctx.progress(`embed: shard ${p.shards_done}/${p.shards}, ${formatCount(p.rows)} pairs, ${p.pairs_per_second.toFixed(1)} pairs/s, ${formatDuration(p.elapsed)}`),
    });
    return { summary: summary as unknown as Record<string, unknown>, text: renderEmbedSummary(summary) };
  },
};
