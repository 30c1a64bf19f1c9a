// Status page: the rule set (version, last update, per-rule counters) and the alerts and events list.
import { $, emptyRow, h, num, setText } from './dom.js';
import { fmtTime } from './format.js';

const EVENTS_SHOWN = 50;

export function renderRules(o) {
  const r = o.rules ?? {};
  setText(
    'rules-version',
    r.activeVersion !== undefined && r.activeVersion !== null ? `version ${r.activeVersion}${r.source ? ` (from ${r.source})` : ''}` : '',
  );
  const u = r.lastUpdate;
  const upd = $('rules-update');
  if (u) {
    const errors = (u.errors ?? []).map((e) => e.message ?? String(e)).join('; ');
    // A rollback says where it went (the last confirmed set) and what it left.
    const what =
      u.state === 'rolled-back' && u.fromVersion !== undefined && u.fromVersion !== null
        ? `rolled back from version ${u.fromVersion} to version ${u.version ?? '?'}`
        : `version ${u.version ?? '?'} ${u.state ?? ''}`;
    setText('rules-update', `Last update ${fmtTime(u.at)}: ${what}${u.source ? ` (${u.source})` : ''}${errors ? ` — ${errors}` : ''}`);
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

export function renderEvents(o) {
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
