/**
 * Worker thread of querygen: counts the pages it is given (whole-page XML chunks from the main
 * thread, or byte ranges of a multistream dump that it decodes itself), parses pageview files, and
 * in the end merges one partition of the spilled runs. See index.ts for the protocol's driver.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import { NgramCounter } from './counter.js';
import { PageScanner, XmlFormatError, type XmlPage } from './xml-pages.js';
import { wikitextToText } from './wikitext.js';
import { openDecompressed, DecodeError } from './input.js';
import { parsePageviewFile } from './pageviews.js';
import { WitError, messageWithoutFile } from '../util/errors.js';
import { mergeRunsBounded, RunWriter } from './runs.js';
import { isPunctuationToken } from '../text/tokenize.js';
import type { WorkerInit, WorkerTask, WorkerReply, TaskStats } from './protocol.js';

const init = workerData as WorkerInit;
// Files open at once per merge: all workers merge together and a default ulimit -n is 1024.
const FAN_IN = Math.max(16, Math.floor(768 / init.partitions));
const port = parentPort!;
const counter = new NgramCounter({
  dir: init.tmpDir,
  prefix: `w${init.id}`,
  partitions: init.partitions,
  budgetBytes: init.budgetBytes,
});

function newStats(): TaskStats {
  return { pages: 0, articles: 0, redirects: 0, otherNamespaces: 0, xmlBytes: 0, inBytes: 0, tokens: 0, sawHeader: false, sawFooter: false };
}

function onPage(stats: TaskStats) {
  return (p: XmlPage) => {
    stats.pages++;
    if (p.ns !== 0) {
      stats.otherNamespaces++;
      return;
    }
    if (p.redirect || /^\s*#redirect/i.test(p.text.slice(0, 32))) {
      stats.redirects++;
      return;
    }
    stats.articles++;
    const before = counter.tokens;
    counter.addText(wikitextToText(p.text));
    stats.tokens += counter.tokens - before;
  };
}

async function countChunk(t: Extract<WorkerTask, { type: 'chunk' }>): Promise<TaskStats> {
  const stats = newStats();
  const scanner = new PageScanner(onPage(stats), t.offset);
  const data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  stats.xmlBytes = data.length;
  stats.inBytes = t.inBytes;
  scanner.push(data.toString('utf8'));
  scanner.end();
  stats.sawHeader = scanner.sawHeader;
  stats.sawFooter = scanner.sawFooter;
  return stats;
}

async function countRange(t: Extract<WorkerTask, { type: 'range' }>): Promise<TaskStats> {
  const stats = newStats();
  const scanner = new PageScanner(onPage(stats), 0);
  const dec = new StringDecoder('utf8');
  let lastReport = Date.now();
  let inBytes = 0;
  for await (const chunk of openDecompressed(t.file, {
    start: t.start,
    end: t.end,
    compression: 'bzip2',
    bz2Decoder: t.decoder,
    onInput: (n) => (inBytes = n),
  })) {
    stats.xmlBytes += chunk.length;
    scanner.push(dec.write(chunk));
    const now = Date.now();
    if (now - lastReport > 500) {
      lastReport = now;
      port.postMessage({ type: 'progress', seq: t.seq, inBytes, xmlBytes: stats.xmlBytes, articles: stats.articles } satisfies WorkerReply);
    }
  }
  scanner.push(dec.end());
  scanner.end();
  stats.inBytes = t.end - t.start;
  stats.sawHeader = scanner.sawHeader;
  stats.sawFooter = scanner.sawFooter;
  return stats;
}

function mergeUnigrams(t: Extract<WorkerTask, { type: 'mergeUni' }>): WorkerReply {
  const frequent: Array<[string, number]> = [];
  const rare = new RunWriter(join(init.tmpDir, `rare-p${t.partition}.run`));
  let total = 0;
  const distinct = mergeRunsBounded(t.paths, (key, count) => {
    total += count;
    if (count >= t.minCount && !isPunctuationToken(key)) frequent.push([key, count]);
    if (count >= t.rareMin && count <= t.rareMax) rare.add(key, count);
  }, FAN_IN, join(init.tmpDir, `uni-p${t.partition}`));
  rare.close();
  return { type: 'merged', seq: t.seq, kind: 'uni', distinct, total, frequent, outFile: rare.path, outEntries: rare.entries };
}

function mergeBigrams(t: Extract<WorkerTask, { type: 'mergeBi' }>): WorkerReply {
  const cand = new RunWriter(join(init.tmpDir, `bigram-cand-p${t.partition}.run`));
  let total = 0;
  const distinct = mergeRunsBounded(t.paths, (key, count) => {
    total += count;
    if (count >= t.min && count <= t.max) cand.add(key, count);
  }, FAN_IN, join(init.tmpDir, `bi-p${t.partition}`));
  cand.close();
  return { type: 'merged', seq: t.seq, kind: 'bi', distinct, total, frequent: [], outFile: cand.path, outEntries: cand.entries };
}

async function handle(t: WorkerTask): Promise<WorkerReply> {
  switch (t.type) {
    case 'chunk':
      return { type: 'done', seq: t.seq, stats: await countChunk(t) };
    case 'range':
      return { type: 'done', seq: t.seq, stats: await countRange(t) };
    case 'pageviews': {
      const r = await parsePageviewFile(t.file, { domains: t.domains, minHourlyViews: t.minHourlyViews, bz2Decoder: t.decoder });
      return { type: 'pageviews', seq: t.seq, titles: [...r.titles], lines: r.lines, kept: r.kept, badLines: r.badLines, badExamples: r.badExamples, nonArticles: r.nonArticles };
    }
    case 'finish':
      counter.spill();
      return { type: 'spilled', seq: t.seq, files: counter.files, spills: counter.spills, spilledEntries: counter.spilledEntries, tokens: counter.tokens };
    case 'mergeUni':
      return mergeUnigrams(t);
    case 'mergeBi':
      return mergeBigrams(t);
  }
}

port.on('message', (t: WorkerTask) => {
  handle(t).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => {
      const e = err as Error;
      // a WitError (a bad input: not a pageview file, over its limit) keeps its bare message and exit code 2
      const kind = err instanceof XmlFormatError ? 'xml' : err instanceof DecodeError ? 'decode' : err instanceof WitError ? 'input' : 'other';
      const offset = err instanceof XmlFormatError ? err.offset : err instanceof DecodeError ? err.outputBytes : undefined;
      port.postMessage({ type: 'error', seq: t.seq, kind, message: err instanceof WitError ? messageWithoutFile(err) : e?.message ?? String(err), offset, code: (err as NodeJS.ErrnoException)?.code } satisfies WorkerReply);
    },
  );
});
