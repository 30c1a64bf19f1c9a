// Status page: the messages-per-second chart, an inline SVG redrawn from `rates` at the box's width.
import { $, setText } from './dom.js';
import { fmtRate } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A round axis maximum (1, 2, 5 x 10^n) at or above v. */
function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function renderChart(o) {
  const box = $('chart');
  const points = o.rates ?? [];
  const width = Math.max(240, Math.round(box.clientWidth || 600));
  const height = width < 500 ? 140 : 180;
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  // Time axis anchored on the gateway's clock (last point), so browser clock skew does not matter.
  const now = points.length ? points[points.length - 1].t : Date.now();
  const spanMs = Math.max(60_000, Math.min(600_000, points.length ? now - points[0].t : 60_000));
  setText('chart-span', spanMs >= 120_000 ? `${Math.round(spanMs / 60_000)} min` : `${Math.round(spanMs / 1000)} s`);
  let max = 0;
  for (const p of points) max = Math.max(max, p.in, p.out);
  const top = niceMax(max);
  const x = (t) => pad.l + w - ((now - t) / spanMs) * w;
  const y = (v) => pad.t + hgt - (v / top) * hgt;

  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, 'aria-hidden': 'true', focusable: 'false' });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(top * frac);
    root.append(svg('line', { x1: pad.l, x2: pad.l + w, y1: yy, y2: yy, class: 'grid' }));
    const label = svg('text', { x: pad.l - 6, y: yy + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = fmtRate(top * frac);
    root.append(label);
  }
  const ticks = spanMs >= 300_000 ? [0, 0.5, 1] : [0, 1];
  for (const frac of ticks) {
    const ago = spanMs * (1 - frac);
    const label = svg('text', { x: pad.l + w * frac, y: height - 4, 'text-anchor': frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle', class: 'axis' });
    label.textContent = ago === 0 ? 'now' : ago >= 120_000 ? `−${Math.round(ago / 60_000)} min` : `−${Math.round(ago / 1000)} s`;
    root.append(label);
  }
  for (const key of ['in', 'out']) {
    if (points.length < 2) break;
    // A gap of more than 3 s (gateway paused, sampling stalled) breaks the line instead of bridging it.
    let d = '';
    let prevT = -Infinity;
    for (const p of points) {
      d += `${p.t - prevT > 3000 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`;
      prevT = p.t;
    }
    root.append(svg('path', { d, class: `line line-${key}` }));
  }
  box.setAttribute(
    'aria-label',
    `Chart of messages per second: now ${fmtRate(o.current?.in ?? 0)} in, ${fmtRate(o.current?.out ?? 0)} exported; peak ${fmtRate(max)}`,
  );
  box.replaceChildren(root);
}
