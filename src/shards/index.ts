/** The shard format: the one contract between stages (see DESIGN.md, "The shard format"). */
export * from './record.js';
export * from './writer.js';
export * from './reader.js';
export * from './manifest.js';
export * from './webdataset.js';
export { TarWriter, readTar, splitKey, ustarHeader } from './tar.js';
export * from './files.js';
