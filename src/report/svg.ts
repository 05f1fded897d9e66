import { esc } from './html.js';

/**
 * Charts rendered on the server as inline SVG: the report needs no script and no network to show
 * them, and a browser draws them the moment the file opens.
 */

const PALETTE = ['#2f6fdf', '#e07b39', '#2e8b57', '#b5479b', '#8a6d3b', '#c4452d', '#4aa3b5', '#6a5acd'];

/** The color of series `i`. */
export function color(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Human tick label: 1200 -> "1.2k", 0.25 -> "0.25". */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return '0';
  if (a < 0.01) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) {
    hi = lo + 1;
    lo = lo - (lo === 0 ? 0 : 1);
  }
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** Powers of ten covering [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
}

function axis(values: number[], log: boolean, includeZero: boolean, extra: number[] = []): Axis {
  const vs = [...values, ...extra].filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (!vs.length) return { lo: log ? 1 : 0, hi: log ? 10 : 1, log, ticks: log ? [1, 10] : [0, 1] };
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (log) {
    const ticks = logTicks(lo, hi);
    return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, log, ticks };
  }
  if (includeZero) lo = Math.min(0, lo);
  if (hi === lo) hi = lo + 1;
  const ticks = niceTicks(lo, hi);
  return { lo: Math.min(lo, ticks[0]!), hi: Math.max(hi, ticks[ticks.length - 1]!), log, ticks };
}

/** A log axis over exactly [min, max] of the values, ticked at 1-2-5 steps inside it. */
function logAxis(values: number[]): Axis {
  const vs = values.filter((v) => v > 0 && Number.isFinite(v));
  if (!vs.length) return { lo: 1, hi: 10, log: true, ticks: [1, 10] };
  const lo = Math.min(...vs);
  const hi = Math.max(lo * 1.0001, ...vs);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (t >= lo && t <= hi) ticks.push(t);
    }
  }
  return { lo, hi, log: true, ticks };
}

function scale(a: Axis, from: number, to: number): (v: number) => number {
  if (a.log) {
    const l0 = Math.log10(a.lo);
    const l1 = Math.log10(a.hi);
    return (v) => from + ((Math.log10(Math.max(v, a.lo)) - l0) / (l1 - l0 || 1)) * (to - from);
  }
  return (v) => from + ((v - a.lo) / (a.hi - a.lo || 1)) * (to - from);
}

function frame(width: number, height: number, title: string, body: string, label: string): string {
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label || title)}">
<text class="title" x="8" y="16">${esc(title)}</text>
${body}
</svg>`;
}

/** One data series of a line or point chart. */
export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
  /** Draw points instead of a line. */
  dots?: boolean;
}

/** Options of a line chart. */
export interface LineChartOptions {
  title: string;
  series: Series[];
  xLabel?: string;
  yLabel?: string;
  logX?: boolean;
  logY?: boolean;
  /** Horizontal reference lines (a cap, chance level). */
  hlines?: { y: number; label: string; color?: string }[];
  width?: number;
  height?: number;
}

/** A line (or dot) chart with axes, ticks, legend and reference lines, as an SVG element. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 280;
  const m = { l: 56, r: 16, t: 28, b: 40 };
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  const ax = axis(xs, Boolean(o.logX), false);
  const ay = axis(ys, Boolean(o.logY), !o.logY, (o.hlines ?? []).map((h) => h.y));
  const sx = scale(ax, m.l, W - m.r);
  const sy = scale(ay, H - m.b, m.t);
  const parts: string[] = [];
  for (const t of ay.ticks) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e3e7ee"/><text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
  }
  for (const t of ax.ticks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${H - m.b}" y2="${H - m.b + 4}" stroke="#888"/><text x="${x}" y="${H - m.b + 15}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/>`);
  if (o.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(12 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const c = s.color ?? color(i);
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0));
    if (!pts.length) return;
    if (s.dots || pts.length === 1) {
      parts.push(`<g fill="${c}" fill-opacity="0.65" class="series">${pts.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.6"/>`).join('')}</g>`);
    } else {
      const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join('');
      parts.push(`<path class="series" d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    }
  });
  for (const h of o.hlines ?? []) {
    if (o.logY && h.y <= 0) continue;
    const y = sy(h.y).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="${h.color ?? '#c4452d'}" stroke-dasharray="5 4" stroke-width="1.4"/><text x="${W - m.r - 4}" y="${+y - 5}" text-anchor="end" fill="${h.color ?? '#c4452d'}" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(h.label)}</text>`);
  }
  if (o.series.length > 1) {
    o.series.forEach((s, i) => {
      const x = m.l + 10 + i * 130;
      parts.push(`<rect x="${x}" y="${m.t - 2}" width="10" height="10" fill="${s.color ?? color(i)}"/><text x="${x + 14}" y="${m.t + 7}">${esc(s.name)}</text>`);
    });
  }
  return frame(W, H, o.title, parts.join('\n'), o.title);
}

/** One bar of a bar chart. */
export interface Bar {
  label: string;
  value: number;
  color?: string;
  /** Text after the bar; defaults to the value. */
  note?: string;
}

/** A horizontal bar chart: one labelled bar per item, values written at the bar ends. */
export function barChart(o: { title: string; bars: Bar[]; width?: number; max?: number; log?: boolean }): string {
  const W = o.width ?? 560;
  const row = 20;
  const m = { l: Math.min(220, 12 + 6.4 * Math.max(4, ...o.bars.map((b) => b.label.length))), r: 90, t: 28, b: 10 };
  const H = m.t + m.b + row * Math.max(1, o.bars.length);
  const max = o.max ?? Math.max(1e-12, ...o.bars.map((b) => b.value));
  const len = (v: number) => {
    if (v <= 0) return 0;
    const f = o.log ? Math.log10(1 + v) / Math.log10(1 + max) : v / max;
    return Math.max(1.5, f * (W - m.l - m.r));
  };
  const parts = o.bars.map((b, i) => {
    const y = m.t + i * row;
    const label = b.label.length > 34 ? `${b.label.slice(0, 33)}…` : b.label;
    return `<text x="${m.l - 6}" y="${y + row / 2}" text-anchor="end" dominant-baseline="middle">${esc(label)}</text>` +
      `<rect class="bar" x="${m.l}" y="${y + 3}" width="${len(b.value).toFixed(1)}" height="${row - 6}" fill="${b.color ?? color(0)}" rx="2"><title>${esc(b.label)}: ${esc(b.note ?? tickLabel(b.value))}</title></rect>` +
      `<text x="${m.l + len(b.value) + 5}" y="${y + row / 2}" dominant-baseline="middle">${esc(b.note ?? tickLabel(b.value))}</text>`;
  });
  return frame(W, H, o.title, parts.join('\n'), o.title);
}

/** A histogram from bin edges (counts.length + 1 of them) with optional vertical markers. */
export function histogramChart(o: { title: string; edges: number[]; counts: number[]; xLabel?: string; logX?: boolean; markers?: { x: number; label: string; color?: string }[]; width?: number; height?: number; barColor?: string }): string {
  const W = o.width ?? 560;
  const H = o.height ?? 250;
  // markers' labels get a band of their own above the plot, so that no bar (the tallest reaches the
  // top) runs under one
  const m = { l: 50, r: 16, t: o.markers?.length ? 46 : 28, b: 40 };
  const ax = o.logX ? logAxis(o.edges) : axis(o.edges, false, false);
  const ay = axis(o.counts, false, true);
  const sx = scale(ax, m.l, W - m.r);
  const sy = scale(ay, H - m.b, m.t);
  const parts: string[] = [];
  for (const t of ay.ticks) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e3e7ee"/><text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
  }
  o.counts.forEach((c, i) => {
    const x0 = sx(o.edges[i]!);
    const x1 = sx(o.edges[i + 1]!);
    const y = sy(c);
    if (c > 0) parts.push(`<rect class="bar" x="${(x0 + 0.5).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0.8, x1 - x0 - 1).toFixed(1)}" height="${(H - m.b - y).toFixed(1)}" fill="${o.barColor ?? color(0)}"><title>[${tickLabel(o.edges[i]!)}, ${tickLabel(o.edges[i + 1]!)}): ${c}</title></rect>`);
  });
  for (const t of ax.ticks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${H - m.b}" y2="${H - m.b + 4}" stroke="#888"/><text x="${x}" y="${H - m.b + 15}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/>`);
  if (o.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  for (const mk of o.markers ?? []) {
    const x = sx(mk.x).toFixed(1);
    // the label sits in the band above the plot, towards the middle of the chart so it stays inside it
    const right = +x > (m.l + W - m.r) / 2;
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t - 14}" y2="${H - m.b}" stroke="${mk.color ?? '#c4452d'}" stroke-dasharray="5 4" stroke-width="1.6"/><text class="marker" x="${right ? +x - 4 : +x + 4}" y="${m.t - 6}" text-anchor="${right ? 'end' : 'start'}" fill="${mk.color ?? '#c4452d'}" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(mk.label)}</text>`);
  }
  return frame(W, H, o.title, parts.join('\n'), o.title);
}

/** Wraps a chart in a figure with a caption. */
export function figure(svg: string, caption?: string): string {
  return `<figure class="chart">${svg}${caption ? `<figcaption>${caption}</figcaption>` : ''}</figure>`;
}

/** One group of a dot chart: its points (e.g. one a seed) and where its mean sits. */
export interface DotGroup {
  name: string;
  points: [number, number][];
  mean: [number, number];
  color?: string;
}

/**
 * A scatter of groups: each point a small dot, each group's mean a larger ring with the group's name
 * beside it (the compare section: accuracy vs pairs kept, one group a recipe, one dot a seed).
 */
export function dotChart(o: { title: string; groups: DotGroup[]; xLabel?: string; yLabel?: string; logX?: boolean; hlines?: { y: number; label: string; color?: string }[]; width?: number; height?: number }): string {
  const W = o.width ?? 560;
  const H = o.height ?? 300;
  const m = { l: 56, r: 16, t: 28, b: 40 };
  const xs = o.groups.flatMap((g) => [...g.points.map((p) => p[0]), g.mean[0]]);
  const ys = o.groups.flatMap((g) => [...g.points.map((p) => p[1]), g.mean[1]]);
  const ax = axis(xs, Boolean(o.logX), false);
  const ay = axis(ys, false, true, (o.hlines ?? []).map((h) => h.y));
  // a mean's ring (r 7) at the end of an axis would cover that axis' line and tick: the data area is
  // inset by PAD from both axes
  const PAD = 12;
  const sx = scale(ax, m.l + PAD, W - m.r - PAD);
  const sy = scale(ay, H - m.b - PAD, m.t);
  const parts: string[] = [];
  for (const t of ay.ticks) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e3e7ee"/><text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
  }
  for (const t of ax.ticks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${H - m.b}" y2="${H - m.b + 4}" stroke="#888"/><text x="${x}" y="${H - m.b + 15}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/>`);
  if (o.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(12 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const h of o.hlines ?? []) {
    const y = sy(h.y).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="${h.color ?? '#8a94a6'}" stroke-dasharray="5 4" stroke-width="1.2"/><text x="${W - m.r - 4}" y="${+y - 5}" text-anchor="end" fill="${h.color ?? '#8a94a6'}">${esc(h.label)}</text>`);
  }
  o.groups.forEach((g, i) => {
    const c = g.color ?? color(i);
    const ok = (p: [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!o.logX || p[0] > 0);
    const pts = g.points.filter(ok);
    parts.push(`<g class="series" fill="${c}" fill-opacity="0.6">${pts.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3"><title>${esc(g.name)}: ${tickLabel(y)}</title></circle>`).join('')}</g>`);
    if (ok(g.mean)) {
      const [mx, my] = [sx(g.mean[0]), sy(g.mean[1])];
      // the name goes left of the ring when it would run past the right edge (and be cut: `raw` -> `r`)
      const left = mx + 12 + 7 * g.name.length > W - 2;
      parts.push(`<g class="mean"><circle cx="${mx.toFixed(1)}" cy="${my.toFixed(1)}" r="7" fill="none" stroke="${c}" stroke-width="2"/><line x1="${(mx - 10).toFixed(1)}" x2="${(mx + 10).toFixed(1)}" y1="${my.toFixed(1)}" y2="${my.toFixed(1)}" stroke="${c}" stroke-width="2"/><text x="${(left ? mx - 12 : mx + 12).toFixed(1)}" y="${(my - 8).toFixed(1)}"${left ? ' text-anchor="end"' : ''} fill="${c}" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(g.name)}</text></g>`);
    }
  });
  return frame(W, H, o.title, parts.join('\n'), o.title);
}
