import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { report } from '../../src/report/index.js';
import { InputError } from '../../src/util/errors.js';
import { checkCount, checkFraction, checkList, checkSum, type FieldProblem } from '../../src/util/checked.js';
import { writeFixtureRun } from './fixtures.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wit-report-numbers-'));
  await writeFixtureRun(join(dir, 'run'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('numbers read from metadata are checked (issue 26)', () => {
  it('counts are whole numbers from 0, fractions in [0, 1], lists bounded, parts no more than their total', () => {
    const p: FieldProblem[] = [];
    expect(checkCount(7, 'a', p)).toBe(7);
    expect(checkCount(undefined, 'a', p)).toBeUndefined();
    expect(p).toEqual([]);
    for (const bad of [-5, 1e308, 2.5, NaN, '7', null]) expect(checkCount(bad, 'kept', p)).toBeUndefined();
    expect(p).toHaveLength(6);
    expect(p[0]).toEqual({ field: 'kept', message: expect.stringMatching(/^is -5, not a count/) });
    const f: FieldProblem[] = [];
    expect(checkFraction(0.5, 'top1', f)).toBe(0.5);
    for (const bad of [NaN, -0.1, 1.5, Infinity]) expect(checkFraction(bad, 'top1', f)).toBeUndefined();
    expect(f).toHaveLength(4);
    const l: FieldProblem[] = [];
    expect(checkList(new Array(10), 'per_class', l, 100)).toHaveLength(10);
    expect(checkList(new Array(101), 'per_class', l, 100)).toBeUndefined();
    checkSum([['kept', 10]], ['candidates', 5], l);
    expect(l.map((x) => x.field)).toEqual(['per_class', 'candidates']);
  });

  async function reportOf(edit: (run: string) => Promise<void>): Promise<{ err: unknown; html: string }> {
    const run = join(dir, `run-${Math.random().toString(36).slice(2)}`);
    await cp(join(dir, 'run'), run, { recursive: true });
    await edit(run);
    const out = join(run, 'report.html');
    const err = await report({ runs: [run], out }).then(() => undefined, (e: unknown) => e);
    return { err, html: await readFile(out, 'utf8') };
  }

  it('a manifest with kept = -5 and candidates = 1e308: the report names them and shows neither', async () => {
    const { err, html } = await reportOf(async (run) => {
      const m = join(run, 'crawl', 'manifest.json');
      const manifest = JSON.parse(await readFile(m, 'utf8')) as { totals: Record<string, unknown> };
      manifest.totals.kept = -5;
      manifest.totals.candidates = 1e308;
      await writeFile(m, JSON.stringify(manifest));
    });
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/manifest\.json: numbers left out: totals\.candidates is 1e\+308, not a count.*totals\.kept is -5, not a count/);
    expect(html).toContain('totals.kept is -5, not a count');
    expect(html).not.toMatch(/<dd>-5<\/dd>/);
    // candidates recomputed from the shards' own stats, not the manifest's 1e308
    const shown = /<dt>candidates<\/dt><dd>([^<]*)<\/dd>/.exec(html)?.[1];
    if (shown !== undefined) expect(shown.length, shown).toBeLessThan(8);
  });

  it('an eval.json with a number out of range and a 10^6-long list: named, not drawn', async () => {
    const { err, html } = await reportOf(async (run) => {
      const e = join(run, 'eval.json');
      const j = JSON.parse(await readFile(e, 'utf8')) as { zero_shot: Record<string, unknown>; retrieval: { image_to_text: Record<string, unknown> } };
      await writeFile(e, JSON.stringify({ ...j, zero_shot: { ...j.zero_shot, top5: 7 }, retrieval: { ...j.retrieval, image_to_text: { ...j.retrieval.image_to_text, r1: -1 } }, shards: new Array(1_000_000).fill(0) }));
    });
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain('eval.json');
    expect(html).toMatch(/shards holds 1000000 items/);
    expect(html).toMatch(/zero_shot\.top5 is 7, not a fraction/);
    expect(html).toMatch(/retrieval\.image_to_text\.r1 is -1, not a fraction/);
    expect(html).not.toContain('700.0%');
  });

  it('an eval.json with NaN (not JSON) is named, not left out of the report without a word', async () => {
    const { err } = await reportOf(async (run) => {
      const e = join(run, 'eval.json');
      await writeFile(e, (await readFile(e, 'utf8')).replace(/"top1":\s*[0-9.]+/, '"top1": NaN'));
    });
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/eval\.json: not a readable eval summary/);
  });
});
