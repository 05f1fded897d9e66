import type { CommandDef } from '../command.js';
import { WitError } from '../../util/errors.js';

// Placeholder until the train stage lands: its issue replaces this file.
export const command: CommandDef = {
  name: 'train',
  summary: 'train (not built yet)',
  flags: {},
  async run() {
    throw new WitError('train', 'not built yet');
  },
};
