import type { CommandDef } from '../command.js';
import { DOCTOR_OPTIONS, doctor, formatDoctor } from '../../doctor/index.js';
import { flagSpecs, groupFlags, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'doctor',
  summary: 'check Node, native npm packages and the optional system programs; say what works without each',
  usage: 'wit doctor [--strict] [--json]',
  flags: groupFlags(flagSpecs(DOCTOR_OPTIONS), { checks: ['python', 'strict'] }),
  examples: [
    { what: 'what this machine has for wit, and what works without the rest', cmd: 'wit doctor' },
    { what: 'CI: exit 1 unless every optional program is there too', cmd: 'wit doctor --strict --json' },
  ],
  async run(flags) {
    const summary = await doctor(optionsFromFlags(DOCTOR_OPTIONS, flags));
    return { summary: summary as unknown as Record<string, unknown>, text: formatDoctor(summary), exitCode: summary.ok ? 0 : 1 };
  },
};
