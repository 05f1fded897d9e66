/**
 * The search page of `wit serve`: one HTML file, one stylesheet, one script, all served by wit itself
 * (no external assets: it works offline). The script builds the DOM with textContent only, so a
 * caption or url can never inject markup.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wit search</title>
<link rel="stylesheet" href="/app.css">
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <form id="search" autocomplete="off">
    <input id="q" name="q" type="search" placeholder="describe an image, e.g. a red apple" autofocus>
    <button type="submit">Search</button>
  </form>
  <p id="status" role="status"></p>
</header>
<section id="anchor" hidden></section>
<main id="grid"></main>
<script src="/app.js" defer></script>
</body>
</html>
`;

export const PAGE_CSS = `
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 12px 16px; z-index: 1; }
form { display: flex; gap: 8px; max-width: 720px; }
input[type=search] { flex: 1; font-size: 16px; padding: 6px 10px; border: 1px solid #bbb; border-radius: 4px; }
button { font-size: 15px; padding: 6px 14px; }
#status { margin: 6px 0 0; color: #555; min-height: 1.4em; }
#anchor { display: flex; gap: 12px; align-items: center; padding: 12px 16px; background: #eef3ff; border-bottom: 1px solid #ccd; }
#anchor img { width: 96px; height: 96px; object-fit: contain; background: #fff; }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; padding: 16px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; display: flex; flex-direction: column; gap: 4px; }
.card img { width: 100%; aspect-ratio: 1; object-fit: contain; background: #f0f0f0; cursor: pointer; }
.sim { font-weight: 600; }
.caption { word-break: break-word; }
.url, .queries { color: #666; font-size: 12px; word-break: break-all; }
`;

export const PAGE_JS = `'use strict';
const grid = document.getElementById('grid');
const statusLine = document.getElementById('status');
const anchor = document.getElementById('anchor');
const form = document.getElementById('search');
const input = document.getElementById('q');

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function card(hit) {
  const c = el('article', 'card');
  c.dataset.key = hit.key;
  const img = el('img');
  img.src = '/image/' + encodeURIComponent(hit.id);
  img.alt = hit.caption;
  img.title = 'click: images like this one';
  img.addEventListener('click', () => neighbours(hit.id));
  c.append(img, el('div', 'sim', 'similarity ' + hit.similarity.toFixed(3)), el('div', 'caption', hit.caption), el('div', 'url', hit.url));
  if (hit.queries.length) c.append(el('div', 'queries', 'queries: ' + hit.queries.join(', ')));
  return c;
}

function show(results, what) {
  grid.replaceChildren(...results.map(card));
  statusLine.textContent = results.length + ' results ' + what;
}

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function textSearch(q) {
  anchor.hidden = true;
  statusLine.textContent = 'searching…';
  try {
    const body = await getJson('/api/search?q=' + encodeURIComponent(q));
    show(body.results, 'for "' + q + '"');
  } catch (e) {
    statusLine.textContent = 'error: ' + e.message;
  }
}

async function neighbours(id) {
  statusLine.textContent = 'searching…';
  try {
    const body = await getJson('/api/neighbours?id=' + encodeURIComponent(id));
    const img = el('img');
    img.src = '/image/' + encodeURIComponent(body.pair.id);
    img.alt = body.pair.caption;
    anchor.replaceChildren(img, el('div', 'caption', 'images like: ' + body.pair.caption));
    anchor.hidden = false;
    show(body.results, 'like ' + body.pair.key);
  } catch (e) {
    statusLine.textContent = 'error: ' + e.message;
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = input.value.trim();
  if (q) textSearch(q);
});
getJson('/api/info').then((info) => {
  statusLine.textContent = info.rows + ' pairs indexed (' + info.embed_dim + '-d, ' + (info.ann === 'none' ? 'exact search' : info.ann + ' index') + ')';
}, () => undefined);
`;
