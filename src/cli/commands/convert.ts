import type { CommandDef } from '../command.js';
import { convert, convertSchema } from '../../shards/convert.js';
import { flagSpecs, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'convert',
  summary: 'turn Parquet shards into WebDataset tars (for open_clip) or back, without re-encoding images',
  usage: 'wit convert --shards DIR --to webdataset|parquet --out DIR [--shard-size N]',
  flags: flagSpecs(convertSchema),
  async run(flags, ctx) {
    const s = await convert({ ...optionsFromFlags(convertSchema, flags), onProgress: ctx.progress, signal: ctx.signal });
    return {
      summary: { ...s },
      text: `convert: ${s.from} -> ${s.to}, ${s.shards} shards written${s.skipped_shards ? ` (${s.skipped_shards} already done)` : ''}, ${s.pairs} pairs, ${(s.image_bytes / 1e6).toFixed(1)} MB of images in ${s.seconds.toFixed(1)} s\n  written: ${s.out}\n${s.open_clip_command ? `  open_clip: ${s.open_clip_command}\n` : ''}`,
    };
  },
};
