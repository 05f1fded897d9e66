/**
 * sharp, loaded with require: an ESM import makes Node scan its CommonJS modules for export names
 * first, which doubled its load time (0.2 s of CPU on every start of a command that touches images;
 * see ./tf.ts). Required on its first use, not when a module that names it is imported: a command
 * that refuses its input first never loads it (0.1 s of CPU and 25 MB of memory on each such start).
 * Every src/ module takes `sharp` from here.
 */
import { createRequire } from 'node:module';
import type Sharp from 'sharp';

let loaded: typeof Sharp | undefined;
const load = (): typeof Sharp => (loaded ??= createRequire(import.meta.url)('sharp') as typeof Sharp);

export const sharp = new Proxy(function sharp() {} as unknown as typeof Sharp, {
  apply: (_t, self, args) => Reflect.apply(load(), self, args),
  construct: (_t, args) => Reflect.construct(load(), args),
  get: (_t, key) => Reflect.get(load(), key),
  has: (_t, key) => Reflect.has(load(), key),
});
