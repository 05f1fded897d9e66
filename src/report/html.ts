/** HTML-escapes text for element content and attribute values (captions come from the web). */
export function esc(s: unknown): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A number for people: 1234567 -> "1,234,567", 0.12345 -> "0.123". */
export function fmtNum(n: unknown, digits = 3): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return n === null || n === undefined ? '–' : esc(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(1) : a >= 1 ? n.toFixed(2) : n.toPrecision(digits);
}

/** Bytes for people: "1.2 MB". */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

/** A percentage: 0.1234 -> "12.3%". */
export function fmtPct(x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '–';
}

/** A table from header cells and rows of already-escaped HTML cells. */
export function table(head: string[], rows: string[][], cls = ''): string {
  if (!rows.length) return '<p class="empty">(none)</p>';
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

/** "key: value" pairs as a definition list of escaped values. */
export function facts(items: [string, string][]): string {
  return `<dl class="facts">${items.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
}

/** The report's whole stylesheet, inlined in the page (no external CSS, no fonts fetched). */
export const STYLE = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#fff;--panel:#f6f8fb;--accent:#2f6fdf;--bad:#c4452d;--good:#2e8b57}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
header.top{padding:20px 28px;border-bottom:1px solid var(--line);background:var(--panel)}
header.top h1{margin:0 0 4px;font-size:22px}
header.top p{margin:0;color:var(--muted)}
nav.toc{padding:8px 28px;border-bottom:1px solid var(--line);font-size:13px}
nav.toc a{margin-right:14px;color:var(--accent);text-decoration:none}
main{padding:8px 28px 40px;max-width:1200px}
section{margin:26px 0;border-top:1px solid var(--line);padding-top:10px}
h2{font-size:19px;margin:6px 0 10px}
h3{font-size:15px;margin:18px 0 8px;color:#333}
.src{color:var(--muted);font-size:12px;font-family:ui-monospace,monospace;word-break:break-all}
.empty{color:var(--muted);font-style:italic}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px;align-items:start}
figure.chart{margin:0;background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px}
figure.chart figcaption{font-size:12px;color:var(--muted);margin-top:4px}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font:11px system-ui,sans-serif;fill:#444}
svg.chart .title{font-size:12.5px;font-weight:600;fill:#222}
table{border-collapse:collapse;font-size:13px;margin:4px 0 10px}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#333}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
dl.facts{display:flex;flex-wrap:wrap;gap:10px 26px;margin:6px 0 12px}
dl.facts div{min-width:110px}
dl.facts dt{font-size:12px;color:var(--muted)}
dl.facts dd{margin:0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.sample{border:1px solid var(--line);border-radius:6px;padding:6px;background:var(--panel);font-size:12px;overflow:hidden}
.sample img{display:block;width:96px;height:96px;object-fit:contain;margin:0 auto 4px;background:#fff;image-rendering:auto}
.sample .cap{font-weight:500;word-break:break-word}
.sample .q{color:var(--muted);word-break:break-word}
.sample .sim{float:right;font-variant-numeric:tabular-nums;color:var(--accent)}
.pill{display:inline-block;background:#e8eefb;border-radius:9px;padding:0 7px;margin:1px 2px;font-size:12px}
.note{color:var(--muted);font-size:12px}
.num.good{color:var(--good)}.num.bad{color:var(--bad)}
`;
