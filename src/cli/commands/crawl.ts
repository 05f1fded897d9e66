import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the crawl stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'crawl',
  summary: 'crawl (not built yet)',
  flags: {},
  async run() {
    throw new WitError('crawl', 'not built yet');
  },
};
