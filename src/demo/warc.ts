import { open, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { siteResponse, type ImageCache, type SitePlan } from './site.js';
import { tempOwner } from '../util/output.js';

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 404: 'Not Found', 500: 'Internal Server Error' };

/**
 * Writes a gzipped WARC 1.1 (one gzip member per record, as crawlers write them) of the site's
 * archive pages and the images they show, as captured from `baseUrl`: a warcinfo record, then a
 * request and a response record per url. Written under a temporary name and renamed when complete.
 * Returns the number of response records.
 */
export async function writeSiteWarc(plan: SitePlan, cache: ImageCache, baseUrl: string, file: string, paths: readonly string[] = plan.archivePaths): Promise<number> {
  // Imported here, not with the module: `wit demo` with a bad flag never loads warcio.
  const { WARCRecord, WARCSerializer } = await import('warcio');
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${tempOwner()}`);
  const fh = await open(tmp, 'w');
  let responses = 0;
  try {
    const date = '2024-01-01T00:00:00Z';
    const info = WARCRecord.createWARCInfo({ filename: basename(file), warcVersion: 'WARC/1.1' }, { software: 'wit demo', format: 'WARC File Format 1.1', 'robots': 'obey' });
    await fh.write(await WARCSerializer.serialize(info, { gzip: true }));
    const urls: string[] = [];
    const seen = new Set<string>();
    for (const p of paths) {
      urls.push(p);
      for (const img of plan.pages.get(p)?.images ?? []) {
        if (img.src.startsWith('/') && !seen.has(img.src)) {
          seen.add(img.src);
          urls.push(img.src);
        }
      }
    }
    for (const path of urls) {
      const url = `${baseUrl}${path}`;
      const { status, headers, body } = await siteResponse(plan, cache, path);
      const host = new URL(baseUrl).host;
      const request = WARCRecord.create(
        { url, date, type: 'request', warcVersion: 'WARC/1.1', statusline: `GET ${path} HTTP/1.1`, httpHeaders: { Host: host, 'User-Agent': 'wit-demo/0.1' } },
        [],
      );
      await fh.write(await WARCSerializer.serialize(request, { gzip: true }));
      const response = WARCRecord.create(
        {
          url,
          date,
          type: 'response',
          warcVersion: 'WARC/1.1',
          statusline: `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}`.trim(),
          httpHeaders: { ...headers, 'Content-Length': String(body.length) },
        },
        [new Uint8Array(body)],
      );
      await fh.write(await WARCSerializer.serialize(response, { gzip: true }));
      responses++;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return responses;
}
