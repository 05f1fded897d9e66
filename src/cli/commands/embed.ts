import type { CommandDef } from '../command.js';
import { embed, EMBED_OPTIONS, mergeIndexes, MERGE_OPTIONS, type EmbedSummary, type MergeSummary } from '../../search/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';
import { formatCount, formatDuration } from '../../util/progress.js';
import { witCommand } from '../../util/invocation.js';

/** One screen about the run. */
export function renderEmbedSummary(s: EmbedSummary): string {
  const ann = s.ann.kind === 'none' ? 'exact scan (small table)' : `${s.ann.kind} index`;
  return [
    `embed: ${formatCount(s.rows)} pairs in ${s.index} (${s.embed_dim}-d ${s.dtype}, ${ann})`,
    `  skipped: ${s.skipped.undecodable} undecodable images, ${s.skipped.image_refused} refused by the image guard`,
    `  shards: ${s.shards.embedded} embedded, ${s.shards.resumed} already done; ${s.pairs_per_second ? `${s.pairs_per_second.toFixed(1)} pairs/s, ` : ''}${formatDuration(s.duration)}`,
    `  search it: ${witCommand()} search --index ${s.index} "a red apple"   or   ${witCommand()} serve --index ${s.index}`,
  ].join('\n') + '\n';
}

/** One screen about a merge. */
export function renderMergeSummary(s: MergeSummary): string {
  const ann = s.ann.kind === 'none' ? 'exact scan (small table)' : `${s.ann.kind} index`;
  return [
    `embed merge: ${formatCount(s.rows)} pairs of ${s.shards} shards in ${s.index} (${ann})`,
    `  parts: ${s.parts.copied} copied, ${s.parts.resumed} already done; ${s.rows_per_second ? `${Math.round(s.rows_per_second)} rows/s, ` : ''}${formatDuration(s.duration)}`,
    `  search it: ${witCommand()} search --index ${s.index} "a red apple"   or   ${witCommand()} serve --index ${s.index}`,
  ].join('\n') + '\n';
}

const mergeCommand: CommandDef = {
  name: 'embed merge',
  summary: 'append indexes that machines made of their own shards into one, then build its ANN index once',
  usage: 'wit embed merge --parts INDEX… --out INDEX [--ann auto|none|hnsw|ivf-pq]',
  flags: groupFlags(flagSpecs(MERGE_OPTIONS), { input: ['parts'], output: ['out', 'ann'] }),
  examples: [
    { what: 'one index of the indexes two machines made of their shards', cmd: 'wit embed merge --parts index-0/ index-1/ --out index/' },
    { what: 'the same with an IVF-PQ index for a large table', cmd: 'wit embed merge --parts index-0/ index-1/ index-2/ --out index/ --ann ivf-pq' },
  ],
  async run(flags, ctx) {
    const summary = await mergeIndexes({ ...optionsFromFlags(MERGE_OPTIONS, flags), signal: ctx.signal, onLog: ctx.log });
    return { summary: summary as unknown as Record<string, unknown>, text: renderMergeSummary(summary) };
  },
};

export const command: CommandDef = {
  name: 'embed',
  subcommands: { merge: mergeCommand },
  summary: 'normalised image and text embeddings of every pair into a LanceDB vector index',
  usage: 'wit embed --model DIR --shards DIR… --out INDEX [--dtype float16|float32]\n       wit embed merge --parts INDEX… --out INDEX   (indexes made on several machines, into one)',
  flags: groupFlags(flagSpecs(EMBED_OPTIONS), {
    input: ['model', 'shards'],
    output: ['out', 'dtype', 'ann'],
    performance: ['batch-size', 'backend', 'device'],
  }),
  examples: [
    { what: 'an index of every pair of a crawl (rerun to resume)', cmd: 'wit embed --model model/ --shards shards/ --out index/' },
    { what: 'an imported ViT-B/32, half-size vectors and an HNSW index', cmd: 'wit embed --model vit-b-32/ --shards shards/ --out index/ --dtype float16 --ann hnsw' },
  ],
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
