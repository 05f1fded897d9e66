import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the demo stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'demo',
  summary: 'demo (not built yet)',
  flags: {},
  async run() {
    throw new WitError('demo', 'not built yet');
  },
};
