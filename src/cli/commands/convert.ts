import type { CommandDef } from '../command.js';
import { convert, convertSchema } from '../../shards/convert.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'convert',
  summary: 'turn Parquet shards into WebDataset tars (for open_clip), img2dataset\'s files folders, or back, without re-encoding images',
  usage: 'wit convert --shards DIR --output-format webdataset|parquet|files --out DIR [--shard-size N]',
  flags: groupFlags(flagSpecs(convertSchema), { input: ['shards'], output: ['out', 'output-format', 'shard-size'] }),
  examples: [
    { what: 'Parquet shards to WebDataset tars for open_clip', cmd: 'wit convert --shards shards/ --output-format webdataset --out tars/' },
    { what: 'and back', cmd: 'wit convert --shards tars/ --output-format parquet --out parquet/' },
    { what: "img2dataset's files layout (a folder of KEY.jpg/.txt/.json per shard)", cmd: 'wit convert --shards tars/ --output-format files --out files/' },
  ],
  async run(flags, ctx) {
    const s = await convert({ ...optionsFromFlags(convertSchema, flags), onProgress: ctx.progress, onLog: ctx.log, signal: ctx.signal });
    const bad = Object.entries(s.bad_items).map(([k, n]) => `${n} ${k}`).join(', ');
    return {
      summary: { ...s },
      text: `convert: ${s.from} -> ${s.to}, ${s.shards} shards written${s.skipped_shards ? ` (${s.skipped_shards} already done)` : ''}, ${s.pairs} pairs (${s.distinct_images} distinct images), ${(s.image_bytes / 1e6).toFixed(1)} MB of images in ${s.seconds.toFixed(1)} s${bad ? `; left out (not pairs): ${bad}` : ''}\n  written: ${s.out}\n${s.open_clip_command ? `  open_clip: ${s.open_clip_command}\n` : ''}${s.open_clip_note ? `  open_clip: ${s.open_clip_note}\n` : ''}`,
    };
  },
};
