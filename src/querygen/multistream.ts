/**
 * Multistream bz2 dumps (`*-pages-articles-multistream.xml.bz2`) are concatenations of independent
 * bz2 streams of 100 pages each; the companion index (`*-multistream-index.txt.bz2`, lines
 * `offset:page_id:title`) gives each stream's byte offset. Any run of whole streams decodes on its
 * own, so workers can each take a byte range and decode it in parallel.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { openDecompressed } from './input.js';
import { LineSplitter } from './lines.js';

/** Longest index line read (offset:page_id:title, titles are at most 255 bytes). */
const MAX_INDEX_LINE = 4096;

/** Error in an index file, with the line it is on. */
export class IndexFormatError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
    this.name = 'IndexFormatError';
  }
}

/** The index file Wikimedia publishes beside a multistream dump, when it exists. */
export function findMultistreamIndex(dump: string): string | undefined {
  const candidates: string[] = [];
  if (/multistream\.xml\.bz2$/.test(dump)) {
    candidates.push(dump.replace(/multistream\.xml\.bz2$/, 'multistream-index.txt.bz2'), dump.replace(/multistream\.xml\.bz2$/, 'multistream-index.txt'));
  }
  const base = dump.replace(/\.xml\.bz2$|\.bz2$/, '');
  candidates.push(`${base}-index.txt.bz2`, `${base}-index.txt`);
  return candidates.find((c) => c !== dump && existsSync(c));
}

/**
 * Distinct stream offsets listed in an index file (plain or compressed), ascending.
 * Throws IndexFormatError on a malformed line or offsets that go backwards.
 */
export async function readStreamOffsets(indexFile: string, bz2Decoder?: 'lbzip2' | 'bzip2' | 'js'): Promise<number[]> {
  const offsets: number[] = [];
  const dec = new StringDecoder('utf8');
  let lineNo = 0;
  let last = -1;
  const take = (line: string) => {
    lineNo++;
    if (line.length === 0) return;
    const colon = line.indexOf(':');
    const off = colon > 0 ? Number(line.slice(0, colon)) : NaN;
    if (!Number.isSafeInteger(off) || off < 0 || line.indexOf(':', colon + 1) < 0) {
      throw new IndexFormatError(`not an 'offset:page_id:title' line: '${line.slice(0, 80)}'`, lineNo);
    }
    if (off < last) throw new IndexFormatError(`offset ${off} is before the previous one (${last})`, lineNo);
    if (off !== last) offsets.push(off);
    last = off;
  };
  const lines = new LineSplitter(MAX_INDEX_LINE, {
    line: take,
    overlong: (head, chars) => {
      lineNo++;
      throw new IndexFormatError(`line of ${chars} characters, longer than ${MAX_INDEX_LINE}: '${head}'`, lineNo);
    },
  });
  for await (const chunk of openDecompressed(indexFile, { bz2Decoder })) lines.push(dec.write(chunk));
  lines.push(dec.end());
  lines.end();
  return offsets;
}

/**
 * Splits a multistream dump into byte ranges of whole streams of about `target` bytes each,
 * covering the file from 0 (the siteinfo stream) to its end. Checks that each boundary holds a bz2
 * stream header, so that an index of another dump is caught; throws Error naming the offset.
 */
export function planRanges(dump: string, offsets: number[], target: number): Array<[number, number]> {
  const size = statSync(dump).size;
  const bounds = [0];
  for (const off of offsets) {
    if (off > size) throw new Error(`index offset ${off} is past the end of the dump (${size} bytes)`);
    if (off - bounds[bounds.length - 1]! >= target && off < size) bounds.push(off);
  }
  const fd = openSync(dump, 'r');
  try {
    const b = Buffer.alloc(4);
    // every offset, not just the chosen boundaries: a wrong index must not go unnoticed (~1 s for enwiki)
    for (const off of [0, ...offsets]) {
      if (off === size) continue;
      const n = readSync(fd, b, 0, 4, off);
      if (n < 4 || b[0] !== 0x42 || b[1] !== 0x5a || b[2] !== 0x68 || b[3]! < 0x31 || b[3]! > 0x39) {
        throw new Error(`no bz2 stream starts at offset ${off} given by the index: index and dump do not belong together`);
      }
    }
  } finally {
    closeSync(fd);
  }
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < bounds.length; i++) ranges.push([bounds[i]!, i + 1 < bounds.length ? bounds[i + 1]! : size]);
  return ranges;
}
