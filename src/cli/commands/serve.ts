import type { CommandDef } from '../command.js';
import { serve, SERVE_OPTIONS } from '../../search/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'serve',
  summary: 'a local search page over an index (127.0.0.1; images from the shards, no external assets)',
  usage: 'wit serve --index INDEX [--shards DIR…] [--port P]',
  flags: groupFlags(flagSpecs(SERVE_OPTIONS), {
    input: ['index', 'shards', 'model'],
    server: ['port', 'host', 'k'],
    performance: ['backend', 'device'],
  }),
  examples: [
    { what: 'a search page on http://127.0.0.1:8765/', cmd: 'wit serve --index index/' },
    { what: 'the shards moved since wit embed; another port', cmd: 'wit serve --index index/ --shards /mnt/data/shards --port 9000' },
  ],
  async run(flags, ctx) {
    const server = await serve({ ...optionsFromFlags(SERVE_OPTIONS, flags), onLog: ctx.log });
    ctx.log(`serving ${server.url}/ (Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    const requests = Object.fromEntries(server.requests);
    return { summary: { url: server.url, requests }, text: `served ${server.url}: ${JSON.stringify(requests)}\n` };
  },
};
