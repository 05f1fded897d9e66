import { it } from 'vitest';
import { writeLargeDump } from '../helpers/wiki-dump.js';
it('gen', async () => {
  const t = Date.now();
  const r = await writeLargeDump('/tmp/qg/p20.xml', 20e6, 'xml', { seed: 5, vocabulary: 50000 });
  console.log(r, Date.now() - t);
}, 120000);
