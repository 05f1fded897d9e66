import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the report stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'report',
  summary: 'report (not built yet)',
  flags: {},
  async run() {
    throw new WitError('report', 'not built yet');
  },
};
