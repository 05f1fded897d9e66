/**
 * Byte streams of querygen's inputs, decompressed: plain, gzip, zstd and bzip2. The readers live in
 * src/util/input.ts (docs/ARCHITECTURE.md, "Reading inputs"), the one bounded way every command
 * reads an input file; querygen's dumps are the `dump` kind (streamed, no size limit by default).
 *
 * bzip2 is the expensive one (a full English Wikipedia is ~22 GB of it): Debian's `lbzip2` decodes
 * with all cores at ~30 MB/s each and `bzip2` at ~15-30 MB/s on one, against ~9 MB/s for the
 * pure-JavaScript unbzip2-stream, so a subprocess is used whenever one is on PATH and the JS decoder
 * is the fallback. The format is detected from the file's magic bytes, not its name.
 */
export {
  DecodeError,
  detectCompression,
  openDecompressed,
  resolveBz2Decoder,
  type Bz2Decoder,
  type Compression,
  type OpenDecompressedOptions as OpenOptions,
} from '../util/input.js';
