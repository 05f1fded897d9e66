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
/* An element's own display rule (#anchor's flex) must not override the hidden attribute. */
[hidden] { display: none !important; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 12px 16px; z-index: 1; }
form { display: flex; gap: 8px; max-width: 720px; }
input[type=search] { flex: 1; font-size: 16px; padding: 6px 10px; border: 1px solid #bbb; border-radius: 4px; }
button { font-size: 15px; padding: 6px 14px; }
#status { margin: 6px 0 0; color: #555; min-height: 1.4em; }
#anchor { display: flex; gap: 12px; align-items: center; padding: 12px 16px; background: #eef3ff; border-bottom: 1px solid #ccd; }
#anchor img { width: 96px; height: 96px; object-fit: contain; background: #fff; }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; padding: 16px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; display: flex; flex-direction: column; gap: 4px; min-width: 0; }
.card img { width: 100%; aspect-ratio: 1; object-fit: contain; background: #f0f0f0; cursor: pointer; }
.sim { font-weight: 600; }
/* Words wrap whole; only a word longer than the card (a url, a long token) breaks inside. */
.caption, .queries { overflow-wrap: break-word; word-break: normal; hyphens: none; }
.captions { margin: 0; padding-left: 1.1em; }
.url { color: #666; font-size: 12px; overflow-wrap: anywhere; }
.queries { color: #666; font-size: 12px; }
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

// One card per image: the pairs of one url (the same picture under several alt texts) are one
// group, shown once with each caption, at the rank of its best pair.
function groupByImage(results) {
  const groups = new Map();
  for (const hit of results) {
    const id = hit.url || hit.id;
    const g = groups.get(id);
    if (!g) groups.set(id, { best: hit, captions: [hit.caption], queries: [...hit.queries], keys: [hit.key] });
    else {
      if (!g.captions.includes(hit.caption)) g.captions.push(hit.caption);
      for (const q of hit.queries) if (!g.queries.includes(q)) g.queries.push(q);
      g.keys.push(hit.key);
    }
  }
  return [...groups.values()];
}

function card(g) {
  const hit = g.best;
  const c = el('article', 'card');
  c.dataset.key = hit.key;
  c.dataset.pairs = String(g.keys.length);
  const img = el('img');
  img.src = '/image/' + encodeURIComponent(hit.id);
  img.alt = hit.caption;
  img.title = 'click: images like this one';
  img.addEventListener('click', () => go({ like: hit.id }));
  c.append(img, el('div', 'sim', 'similarity ' + hit.similarity.toFixed(3)));
  if (g.captions.length === 1) c.append(el('div', 'caption', hit.caption));
  else {
    const list = el('ul', 'captions');
    for (const t of g.captions) list.append(el('li', 'caption', t));
    c.append(el('div', 'note', g.captions.length + ' captions of this image'), list);
  }
  c.append(el('div', 'url', hit.url));
  if (g.queries.length) c.append(el('div', 'queries', 'queries: ' + g.queries.join(', ')));
  return c;
}

function show(results, what) {
  const groups = groupByImage(results);
  grid.replaceChildren(...groups.map(card));
  statusLine.textContent = groups.length + ' images (' + results.length + ' pairs) ' + what;
}

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function textSearch(q) {
  anchor.hidden = true;
  input.value = q;
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
    // The anchor's own image (under its other captions) is not its own neighbour.
    show(body.results.filter((h) => !body.pair.url || h.url !== body.pair.url), 'like ' + body.pair.key);
  } catch (e) {
    statusLine.textContent = 'error: ' + e.message;
  }
}

// The search lives in the address (?q=TEXT or ?like=KEY): bookmarks, reloads and the back button work.
function stateFromLocation() {
  const p = new URLSearchParams(location.search);
  if (p.get('like')) return { like: p.get('like') };
  if (p.get('q')) return { q: p.get('q') };
  return {};
}

function run(state) {
  if (state.like) return neighbours(state.like);
  if (state.q) return textSearch(state.q);
  anchor.hidden = true;
  grid.replaceChildren();
  input.value = '';
}

function go(state) {
  const p = new URLSearchParams(state);
  const url = location.pathname + '?' + p.toString();
  if (url !== location.pathname + location.search) history.pushState(state, '', url);
  run(state);
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = input.value.trim();
  if (q) go({ q });
});
window.addEventListener('popstate', () => run(stateFromLocation()));
getJson('/api/info').then((info) => {
  const initial = stateFromLocation();
  if (initial.q || initial.like) return run(initial);
  statusLine.textContent = info.rows + ' pairs indexed (' + info.embed_dim + '-d, ' + (info.ann === 'none' ? 'exact search' : info.ann + ' index') + ')';
}, () => run(stateFromLocation()));
`;
