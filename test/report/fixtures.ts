import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShardWriter, shardPath, writeManifest, type PairRecord } from '../../src/shards/index.js';
import { emojiImage, listEmoji } from '../../src/data/emoji.js';

/** A caption that must come out escaped. */
export const HOSTILE = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> "quoted" & more`;

/**
 * Writes a run folder as the stages would: queries.tsv + summary, a crawl shard dir (manifest,
 * stats with reasons, query_counts.tsv), a model dir (config, tokenizer, metrics.jsonl), eval.json,
 * and a filter dir (shards with similarity, manifest with a histogram). Real emoji images.
 */
export async function writeFixtureRun(dir: string, n = 30): Promise<void> {
  await mkdir(dir, { recursive: true });
  const emoji = (await listEmoji('google')).filter((e) => !/flag/.test(e.category)).slice(0, n);
  const q = ['query\tsource\tcount', ...emoji.map((e, i) => `${e.name}\t${i % 3 === 0 ? 'wordnet' : i % 3 === 1 ? 'unigram' : 'title'}\t${(i + 1) * 37}`), 'face with tears\tbigram\t12'];
  await writeFile(join(dir, 'queries.tsv'), q.join('\n') + '\n');
  await writeFile(join(dir, 'queries.summary.json'), JSON.stringify({ queries: q.length - 1, by_source: {}, tokens: 123456, articles: 789, seconds: 1.5 }));

  const recs: PairRecord[] = [];
  for (const [i, e] of emoji.entries()) {
    const image = new Uint8Array(await emojiImage('google', e.code, { size: 48 }));
    recs.push({
      key: `k${String(i).padStart(4, '0')}`,
      url: `http://img${i % 3}.example.test/${e.code}.png`,
      page_url: `http://site.example.test/p${i % 4}.html`,
      caption: i === 3 ? HOSTILE : `${e.name} emoji`,
      queries: [e.name],
      image,
      width: 48,
      height: 48,
      original_width: 48 + i * 7,
      original_height: 48 + i * 5,
      sha256: createHash('sha256').update(image).digest('hex'),
    });
  }
  const crawl = join(dir, 'crawl');
  const half = Math.ceil(recs.length / 2);
  for (const [s, part] of [recs.slice(0, half), recs.slice(half)].entries()) {
    const w = await ShardWriter.open(shardPath(crawl, s), { imageFormat: 'png' });
    for (const r of part) await w.write(r);
    await w.close({ candidates: part.length + 10, failed: { http_4xx: 4, decode: 1 }, skipped: { robots: 2, no_match: 3 } });
  }
  await writeManifest(crawl, {
    stage: 'crawl', version: '0.1.0', created: new Date().toISOString(), options: { cap: 3, balance: 'cap' }, inputs: ['http://site.example.test/'], shards: ['00000.parquet', '00001.parquet'],
    totals: { candidates: recs.length + 20, matched: recs.length + 12, kept: recs.length, failed: { http_4xx: 8, decode: 2 }, skipped: { robots: 4, no_match: 6 } },
  });
  await writeFile(join(crawl, 'query_counts.tsv'), ['query\tcount', ...emoji.map((e, i) => `${e.name}\t${1 + (i % 4)}`)].join('\n') + '\n');

  const model = join(dir, 'model');
  await mkdir(model, { recursive: true });
  await writeFile(join(model, 'config.json'), JSON.stringify({ arch: 'vit-tiny', image_size: 64 }));
  await writeFile(join(model, 'tokenizer.json'), '{}');
  const metrics = Array.from({ length: 40 }, (_, s) => JSON.stringify({ step: s + 1, loss: 4.2 * Math.exp(-s / 15) + 0.3, lr: 1e-3 * Math.min(1, (s + 1) / 5), logit_scale: 14.3 + s * 0.1, samples_per_s: 30 + (s % 3), time: s * 2 }));
  await writeFile(join(model, 'metrics.jsonl'), metrics.join('\n') + '\n{"step": 41, "loss"'); // last line cut by a crash
  await writeFile(join(dir, 'eval.json'), JSON.stringify({ zero_shot: { top1: 0.31, top5: 0.62, classes: n, samples: n }, retrieval: { image_to_text: { r1: 0.2, r5: 0.5, r10: 0.7 }, text_to_image: { r1: 0.25, r5: 0.55, r10: 0.72 } } }));

  const filtered = join(dir, 'filtered');
  const kept = recs.filter((_, i) => i % 5 !== 0).map((r, i) => ({ ...r, similarity: 0.1 + (i % 10) * 0.05 }));
  const w = await ShardWriter.open(shardPath(filtered, 0), { imageFormat: 'png', withSimilarity: true });
  for (const r of kept) await w.write(r);
  await w.close({ stage: 'filter' });
  const counts = new Array<number>(40).fill(0);
  for (const r of kept) counts[Math.floor((r.similarity! + 1) * 20)]!++;
  counts[20] = (counts[20] ?? 0) + 6;
  await writeManifest(filtered, {
    stage: 'filter', version: '0.1.0', created: new Date().toISOString(),
    options: { shards: [join(crawl, '00000.parquet'), join(crawl, '00001.parquet')], keep_fraction: 0.8 },
    inputs: [], shards: ['00000.parquet'],
    totals: { mode: 'keep-fraction', input: recs.length, kept: kept.length, scored: recs.length, dropped: { below_threshold: recs.length - kept.length }, threshold: 0.1, keepFraction: 0.8, histogram: { min: -1, max: 1, counts, below: 0, above: 0, total: recs.length, mean: 0.3, lo: 0, hi: 0.55 } },
  });
}
