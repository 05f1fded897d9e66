/**
 * sharp, loaded with require: an ESM import makes Node scan its CommonJS modules for export names
 * first, which doubled its load time (0.2 s of CPU on every start of a command that touches images;
 * see ./tf.ts). Every src/ module takes `sharp` from here.
 */
import { createRequire } from 'node:module';
import type Sharp from 'sharp';

export const sharp = createRequire(import.meta.url)('sharp') as typeof Sharp;
