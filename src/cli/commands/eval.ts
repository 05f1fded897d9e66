import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the eval stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'eval',
  summary: 'eval (not built yet)',
  flags: {},
  async run() {
    throw new WitError('eval', 'not built yet');
  },
};
