import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the filter stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'filter',
  summary: 'filter (not built yet)',
  flags: {},
  async run() {
    throw new WitError('filter', 'not built yet');
  },
};
