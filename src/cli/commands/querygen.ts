import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the querygen stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'querygen',
  summary: 'querygen (not built yet)',
  flags: {},
  async run() {
    throw new WitError('querygen', 'not built yet');
  },
};
