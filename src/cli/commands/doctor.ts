import type { CommandDef } from '../command.js';
import { DOCTOR_OPTIONS, doctor, formatDoctor } from '../../doctor/index.js';
import { flagSpecs, optionsFromFlags } from '../../util/options.js';

export const command: CommandDef = {
  name: 'doctor',
  summary: 'check Node, native npm packages and the optional system programs; say what works without each',
  usage: 'wit doctor [--strict] [--json]',
  flags: flagSpecs(DOCTOR_OPTIONS),
  async run(flags) {
    const summary = await doctor(optionsFromFlags(DOCTOR_OPTIONS, flags));
    return { summary: summary as unknown as Record<string, unknown>, text: formatDoctor(summary), exitCode: summary.ok ? 0 : 1 };
  },
};
