import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueries } from '../../src/crawl/queries.js';
import { InputError } from '../../src/util/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wit-queries-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

describe('loadQueries', () => {
  it('reads queries.tsv as querygen writes it', async () => {
    const tsv = 'query\tsource\tcount\ncat\twordnet\t0\nNew York\ttitle\t1234\r\nblack cat\tbigram\t55\n\ncat\tunigram\t900\n';
    expect(await loadQueries(file('q.tsv', tsv))).toEqual(['cat', 'New York', 'black cat']);
    expect(await loadQueries(file('q.tsv.gz', gzipSync(tsv)))).toEqual(['cat', 'New York', 'black cat']);
  });

  it('reads a plain list, one query a line', async () => {
    const txt = '\ufeffcat\n  dog  \n\nhot dog\ncat\n';
    expect(await loadQueries(file('q.txt', txt))).toEqual(['cat', 'dog', 'hot dog']);
  });

  it('names the file and line of a malformed queries.tsv', async () => {
    const bad = 'query\tsource\tcount\ncat\twordnet\t1\ndog\twordnet\n';
    await expect(loadQueries(file('bad.tsv', bad))).rejects.toThrow(/bad\.tsv: line 3: expected 3 tab-separated fields/);
    const badCount = 'query\tsource\tcount\ncat\twordnet\tmany\n';
    await expect(loadQueries(file('badcount.tsv', badCount))).rejects.toThrow(/badcount\.tsv: line 2: count must be/);
    const badHeader = 'query\tcount\ncat\t1\n';
    await expect(loadQueries(file('hdr.tsv', badHeader))).rejects.toThrow(/hdr\.tsv: line 1: queries\.tsv header/);
    await expect(loadQueries(file('tab.txt', 'cat\nfoo\tbar\n'))).rejects.toThrow(/tab\.txt: line 2: tab in a plain query list/);
    await expect(loadQueries(file('empty.txt', '\n\n'))).rejects.toThrow(InputError);
    await expect(loadQueries(join(dir, 'missing.tsv'))).rejects.toThrow(/missing\.tsv: no such file/);
  });
});
