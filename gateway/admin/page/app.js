// Gatehouse status page: polls /api/overview once a second while the tab is visible and renders it.
// Plain browser ES module, no framework, no external resource. Everything that comes from the
// gateway (topics, payloads, client ids, error messages) is untrusted device data: it only ever
// reaches the DOM as text nodes (textContent), never as parsed markup.

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 4000;
const EVENTS_SHOWN = 50;
const TOKEN_KEY = 'gatehouse.adminToken';
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

// ---- formatting -------------------------------------------------------------------------------

function fmtRate(n) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 100) return Math.round(n).toLocaleString();
  return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString() : '–';
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n >= 10 ? 0 : 1)} ${units[i]}`;
}

function fmtDuration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Epoch ms or ISO string -> local time (with the date when not today). */
function fmtTime(at) {
  if (at === undefined || at === null) return '–';
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '–';
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

// ---- tiny DOM builder -------------------------------------------------------------------------

/** h('td', { class: 'x' }, 'text', child) — strings become text nodes (never parsed as HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function setText(id, text) {
  const el = $(id);
  const s = String(text);
  // Only touch the DOM when the text changes: keeps aria-live announcements meaningful.
  if (el && el.textContent !== s) el.textContent = s;
}

function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}

function num(n) {
  return h('td', { class: 'num' }, fmtInt(n));
}

// ---- sections ---------------------------------------------------------------------------------

function renderHeader(o) {
  setText('gateway-id', o.gatewayId ?? '');
  setText('version', o.version ?? '–');
  setText('uptime', fmtDuration(o.health?.uptimeSeconds));
  const health = $('health');
  const status = o.health?.status ?? (o.health?.ok ? 'ok' : 'degraded');
  setText('health', status);
  health.className = `badge ${o.health?.ok ? 'ok' : 'bad'}`;
  setText('updated', fmtTime(Date.now()));
  document.title = `${o.gatewayId ?? 'Gatehouse'} · ${fmtRate(o.current?.in ?? 0)} msgs/s · Gatehouse`;
}

function renderCards(o) {
  setText('rate-in', fmtRate(o.current?.in ?? 0));
  setText('rate-out', fmtRate(o.current?.out ?? 0));
  setText('clients-count', fmtInt((o.clients ?? []).length));
  const links = o.links ?? [];
  const open = links.filter((l) => l.state === 'open').length;
  setText('links-count', links.length === 0 ? 'none' : `${open} / ${links.length} open`);
  $('links-count').parentElement.classList.toggle('warn', open < links.length);
  let backlog = 0;
  let failing = false;
  for (const s of o.streams ?? []) {
    for (const e of s.exporters ?? []) {
      backlog += e.backlog?.records ?? 0;
      if (e.state === 'backoff') failing = true;
    }
  }
  setText('backlog-total', fmtInt(backlog));
  $('backlog-total').parentElement.classList.toggle('warn', failing);
}

function renderStreams(o) {
  const streams = o.streams ?? [];
  const rows = streams.map((s) => {
    const full = s.maxBytes > 0 ? s.bytes / s.maxBytes : 0;
    const pct = `${(full * 100).toFixed(full < 0.1 ? 1 : 0)}%`;
    return h(
      'tr',
      { 'data-stream': s.name, class: s.rejectedAppends > 0 || full > 0.9 ? 'warn' : undefined },
      h('th', { scope: 'row' }, s.name),
      h('td', { class: 'num last-seq' }, fmtInt(s.lastSeq)),
      num(s.records),
      h('td', { class: 'num' }, `${fmtBytes(s.bytes)} / ${fmtBytes(s.maxBytes)}`),
      h('td', { class: 'num' }, h('meter', { min: 0, max: 1, value: full, high: 0.8, optimum: 0, title: pct }), ` ${pct}`, s.onFull ? h('small', { class: 'muted' }, ` ${s.onFull}`) : null),
      num(s.droppedRecords),
      num(s.rejectedAppends),
    );
  });
  $('streams-body').replaceChildren(...(rows.length ? rows : [emptyRow(7, 'No local streams.')]));

  const exRows = [];
  const errItems = [];
  for (const s of streams) {
    for (const e of s.exporters ?? []) {
      const err = e.lastError;
      // An error is current unless a later export succeeded.
      const current = err && !(e.lastExportAt && e.lastExportAt > err.at);
      const stateClass = e.state === 'running' && !current ? 'ok' : e.state === 'stopped' ? 'muted' : 'bad';
      exRows.push(
        h(
          'tr',
          { 'data-exporter': e.name, class: current ? 'has-error' : undefined },
          h('th', { scope: 'row' }, e.name),
          h('td', null, `${e.stream} → `, h('span', { class: 'dest' }, `${e.destination?.kind ?? '?'} ${e.destination?.target ?? ''}`)),
          h('td', null, h('span', { class: `badge ${stateClass}` }, e.state)),
          num(e.lastExportedSeq),
          h('td', { class: 'num' }, `${fmtInt(e.backlog?.records)} · ${fmtBytes(e.backlog?.bytes)}`),
          h('td', { class: 'num' }, fmtDuration(e.backlog?.ageSeconds)),
          h('td', { class: 'num' }, `${fmtInt(e.exportedRecords)} · ${fmtBytes(e.exportedBytes)}`),
          num(e.retries),
          num(e.deadLetters),
          h('td', null, fmtTime(e.lastExportAt)),
        ),
      );
      if (err) {
        // Below the table rather than in a row: long messages wrap to the screen, even on a phone.
        errItems.push(
          h(
            'li',
            { class: `exporter-error-item ${current ? 'current' : 'past'}`, 'data-exporter-error': e.name },
            h('strong', null, `${e.name}: ${current ? 'last error' : 'earlier error (recovered since)'} `),
            h('time', { datetime: new Date(err.at).toISOString() }, fmtTime(err.at)),
            ' ',
            h('span', { class: 'exporter-error' }, err.message),
          ),
        );
      }
    }
  }
  $('exporters-body').replaceChildren(...(exRows.length ? exRows : [emptyRow(10, 'No exporters configured.')]));
  $('exporter-errors').replaceChildren(...errItems);
  $('exporter-errors').hidden = errItems.length === 0;
}

function renderRules(o) {
  const r = o.rules ?? {};
  setText('rules-version', r.activeVersion !== undefined && r.activeVersion !== null ? `version ${r.activeVersion}${r.source ? ` (from ${r.source})` : ''}` : '');
  const u = r.lastUpdate;
  const upd = $('rules-update');
  if (u) {
    const errors = (u.errors ?? []).map((e) => e.message ?? String(e)).join('; ');
    setText('rules-update', `Last update ${fmtTime(u.at)}: version ${u.version ?? '?'} ${u.state ?? ''}${u.source ? ` (${u.source})` : ''}${errors ? ` — ${errors}` : ''}`);
    upd.classList.toggle('bad', u.state === 'rejected' || u.state === 'rolled-back');
  } else setText('rules-update', '');
  const rows = (r.rules ?? []).map((rule) =>
    h(
      'tr',
      { 'data-rule': rule.name, class: (rule.errors ?? 0) + (rule.actionFailures ?? 0) > 0 ? 'warn' : rule.enabled === false ? 'muted' : undefined },
      h('th', { scope: 'row' }, rule.name),
      h('td', null, rule.enabled === false ? 'off' : 'on'),
      h('td', { class: 'sql' }, h('code', null, rule.sql ?? '')),
      h('td', null, (rule.actions ?? []).join(', ')),
      num(rule.matched ?? 0),
      num(rule.emitted ?? 0),
      num(rule.errors ?? 0),
      num(rule.actionFailures ?? 0),
    ),
  );
  $('rules-body').replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No rules loaded.')]));
}

function renderEvents(o) {
  const events = (o.events ?? []).slice(0, EVENTS_SHOWN);
  const items = events.map((e) =>
    h(
      'li',
      { class: `event kind-${e.kind}` },
      h('time', { datetime: e.at }, fmtTime(e.at)),
      h('span', { class: 'kind' }, e.kind),
      h('span', { class: 'msg' }, e.message),
      e.payload !== undefined ? h('code', { class: 'payload' }, e.payload) : null,
    ),
  );
  $('events').replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'No alerts or events yet.')]));
}

function renderClients(o) {
  const rows = (o.clients ?? []).map((c) =>
    h(
      'tr',
      null,
      h('th', { scope: 'row' }, c.id),
      h('td', null, c.user ?? '–'),
      h('td', null, c.ip ?? '–'),
      h('td', null, c.listener ?? '–'),
      h('td', null, c.protocolVersion === 4 ? '3.1.1' : c.protocolVersion === 3 ? '3.1' : String(c.protocolVersion ?? '–')),
      h('td', null, fmtTime(c.connectedAt), ' ', h('small', { class: 'muted' }, `(${fmtDuration((Date.now() - c.connectedAt) / 1000)})`)),
    ),
  );
  $('clients-body').replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No MQTT clients connected.')]));
}

function renderLinks(o) {
  const rows = (o.links ?? []).map((l) =>
    h(
      'tr',
      { 'data-link': l.name },
      h('th', { scope: 'row' }, l.name),
      h('td', null, h('code', null, l.path ?? '')),
      h('td', null, h('span', { class: `badge ${l.state === 'open' ? 'ok' : 'bad'}` }, l.state)),
      num(l.framesIn),
      num(l.framesOut),
      num((l.frameErrors ?? 0) + (l.decodeErrors ?? 0)),
      num(l.reconnects),
      h('td', { class: l.lastError ? 'error-text' : undefined }, l.lastError ? `${fmtTime(l.lastErrorAt)}: ${l.lastError}` : '–'),
    ),
  );
  $('links-body').replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No serial links configured.')]));
}

/** Files of the `file` sources (details.files, .unreadable, .vanished of each source status). */
function renderFiles(o) {
  const rows = [];
  for (const src of (o.sources ?? []).filter((s) => s.kind === 'file')) {
    const d = src.details ?? {};
    for (const f of d.files ?? []) {
      rows.push(
        h(
          'tr',
          { 'data-file': f.path },
          h('th', { scope: 'row' }, h('code', null, f.path)),
          h('td', null, src.name),
          h('td', null, h('span', { class: f.state === 'open' || f.state === 'idle-closed' ? 'badge ok' : 'badge' }, f.state)),
          h('td', { class: 'num' }, fmtBytes(f.offset)),
          h('td', { class: 'num' }, fmtBytes(f.size)),
          h('td', { class: 'num' }, f.lagBytes > 0 ? `${fmtBytes(f.lagBytes)} (${fmtDuration(f.lagSeconds)})` : '0'),
          num(f.linesRead),
          num(f.parseErrors),
          h('td', { class: f.lastError ? 'error-text' : undefined }, f.lastError ?? (f.linesCut ? `${f.linesCut} lines cut` : '–')),
        ),
      );
    }
    for (const u of [...(d.unreadable ?? []), ...(d.vanished ?? []).map((v) => ({ path: v.path, error: `disappeared with ${v.unreadBytes ?? 'unknown'} unread bytes` }))]) {
      rows.push(h('tr', { 'data-file': u.path }, h('th', { scope: 'row' }, h('code', null, u.path)), h('td', null, src.name), h('td', null, h('span', { class: 'badge bad' }, 'problem')), h('td', { colspan: '5' }, ''), h('td', { class: 'error-text' }, u.error)));
    }
  }
  $('files-body').replaceChildren(...(rows.length ? rows : [emptyRow(9, 'No file sources configured.')]));
}

// ---- chart ------------------------------------------------------------------------------------

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

function renderChart(o) {
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
  box.setAttribute('aria-label', `Chart of messages per second: now ${fmtRate(o.current?.in ?? 0)} in, ${fmtRate(o.current?.out ?? 0)} exported; peak ${fmtRate(max)}`);
  box.replaceChildren(root);
}

// ---- polling ----------------------------------------------------------------------------------

let timer;
let inFlight = false;
let paused = false;
let failingSince;
let lastOverview;
let lastOkAt;

function banner(text) {
  const b = $('banner');
  if (text) {
    if (b.textContent !== text) b.textContent = text;
    b.hidden = false;
  } else b.hidden = true;
  document.body.classList.toggle('stale', Boolean(text));
}

function render(o) {
  lastOverview = o;
  renderHeader(o);
  renderCards(o);
  renderChart(o);
  renderStreams(o);
  renderRules(o);
  renderEvents(o);
  renderClients(o);
  renderLinks(o);
  renderFiles(o);
}

function askToken(message) {
  const form = $('token-form');
  form.hidden = false;
  $('main').hidden = true;
  banner(message);
  $('token-input').focus();
}

async function poll() {
  if (inFlight) return;
  inFlight = true;
  const ac = new AbortController();
  const abortTimer = setTimeout(() => ac.abort(), FETCH_TIMEOUT_MS);
  try {
    const headers = { accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch('/api/overview', { headers, cache: 'no-store', signal: ac.signal });
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(token ? 'The admin token was refused: enter it again.' : 'This gateway requires its admin token.');
      return; // no rescheduling until a token is entered
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const overview = await res.json();
    failingSince = undefined;
    lastOkAt = Date.now();
    banner('');
    render(overview);
  } catch (err) {
    failingSince ??= Date.now();
    const why = err && err.name === 'AbortError' ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : String(err && err.message ? err.message : err);
    banner(`Gateway unreachable since ${fmtTime(failingSince)} (${why}). ${lastOkAt ? `Figures below are from ${fmtTime(lastOkAt)}` : 'No figures yet'}; retrying every ${POLL_MS / 1000} s.`);
  } finally {
    clearTimeout(abortTimer);
    inFlight = false;
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = undefined;
  if (paused || document.hidden) return;
  timer = setTimeout(poll, POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  // Stop polling a hidden tab (phones, background tabs); catch up at once when it shows again.
  if (document.hidden) {
    clearTimeout(timer);
    timer = undefined;
  } else if (!paused && $('token-form').hidden) void poll();
});

$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  if (paused) clearTimeout(timer);
  else void poll();
});

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('token-input').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $('token-input').value = '';
  $('token-form').hidden = true;
  $('main').hidden = false;
  banner('');
  void poll();
});

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => lastOverview && renderChart(lastOverview), 150);
});

void poll();
