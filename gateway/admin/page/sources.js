// Status page: the configured sources other than tailed files (Modbus, OPC UA, MQTT subscriptions
// on another broker, HTTP posts, syslog, SNMP): state, a one-line summary of each kind's details, and each source's error
// below the table (current while the source is not connected, greyed once it has recovered).
// gateway/cli/sources.ts (`gatehouse sources`) words the same: keep the two in step.
import { $, emptyRow, h } from './dom.js';
import { fmtInt, fmtRate, fmtTime } from './format.js';

const STATE_CLASS = { running: 'ok', connected: 'ok', connecting: 'warn', retrying: 'warn', paused: 'warn', failed: 'bad', stopped: 'bad' };

/** ' · '-separated parts, skipping the empty ones (a detail the gateway did not send). */
function parts(...items) {
  const out = [];
  for (const item of items) {
    if (item === undefined || item === null || item === false || item === '') continue;
    if (out.length) out.push(' · ');
    out.push(item);
  }
  return out;
}

function plural(n, one, many = `${one}s`) {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

function lastGood(at) {
  return at ? h('span', null, 'last good read ', h('time', { datetime: at }, fmtTime(at))) : 'no good read yet';
}

function modbusSummary(d) {
  const devices = d.devices ?? [];
  const failing = devices.filter((x) => x.state === 'failing').length;
  // Tags a device answering refuses (an exception: an address it does not have); a failing
  // device's are left out: its one error below says why nothing is read.
  const tagErrors = devices.reduce((n, x) => n + (x.state === 'failing' ? 0 : Object.keys(x.tagErrors ?? {}).length), 0);
  const reads = devices.map((x) => x.lastGoodRead).filter(Boolean);
  const rate = devices.reduce((sum, x) => sum + (x.valuesPerSecond ?? 0), 0);
  return parts(
    h('code', null, d.endpoint ?? ''),
    `${plural(devices.length, 'device')}${failing ? ` (${fmtInt(failing)} failing)` : ''}`,
    tagErrors ? `${plural(tagErrors, 'tag')} with errors` : null,
    `${fmtRate(rate)} values/s`,
    lastGood(reads.sort().at(-1)),
    d.reconnects ? plural(d.reconnects, 'reconnect') : null,
    d.gaps ? plural(d.gaps, 'gap') : null,
  );
}

function opcuaSummary(d) {
  const tagErrors = Object.keys(d.tagErrors ?? {}).length;
  return parts(
    h('code', null, d.endpoint ?? ''),
    d.securityMode && d.securityMode !== 'None' ? d.securityMode : null,
    `${plural(d.items ?? 0, 'tag')}${tagErrors ? ` (${fmtInt(tagErrors)} with errors)` : ''}`,
    `${fmtInt(d.values)} values read`,
    `${fmtRate(d.valuesPerSecond)} values/s`,
    lastGood(d.lastGoodRead),
    d.gaps ? plural(d.gaps, 'gap') : null,
  );
}

function mqttSummary(d, state) {
  // Connected: the QoS the broker granted, null for a subscription it refused. Otherwise there is
  // no subscription right now (the grants shown would be those of an earlier connection).
  const grant = (s) => (state !== 'connected' ? 'not subscribed' : s.qos === null ? 'refused' : `QoS ${s.qos}`);
  const subs = (d.subscriptions ?? []).map((s) => `${s.filter} (${grant(s)})`);
  return parts(
    h('code', null, d.url ?? ''),
    state !== 'connected' && d.downSince ? h('span', null, 'no connection since ', h('time', { datetime: d.downSince }, fmtTime(d.downSince))) : null,
    `client ${d.clientId ?? '–'}`,
    subs.length ? subs.join(', ') : 'no subscriptions',
    `${fmtInt(d.received)} received, ${fmtInt(d.acknowledged)} acknowledged, ${fmtInt(d.refused)} refused, ${fmtInt(d.dropped)} dropped`,
    d.lastMessageAt ? h('span', null, 'last message ', h('time', { datetime: d.lastMessageAt }, fmtTime(d.lastMessageAt))) : 'no message yet',
  );
}

function httpSummary(d) {
  const req = d.requests ?? {};
  const refused = Object.entries(req).reduce((n, [k, v]) => (k === 'accepted' || k === 'client-gone' ? n : n + v), 0);
  return parts(
    h('code', null, d.url ?? ''),
    `auth ${d.auth ?? '–'}`,
    `${fmtInt(d.messages ?? 0)} messages committed`,
    `${fmtInt(req.accepted ?? 0)} requests answered 200, ${fmtInt(refused)} refused`,
    d.inFlight ? `${fmtInt(d.inFlight)} in flight` : null,
    d.bannedAddresses ? plural(d.bannedAddresses, 'address banned', 'addresses banned') : null,
  );
}

function syslogSummary(d) {
  const dropped = Object.entries(d.dropped ?? {}).filter(([, n]) => n > 0);
  return parts(
    h(
      'code',
      null,
      Object.entries(d.listening ?? {})
        .map(([transport, at]) => `${transport} ${at}`)
        .join(', '),
    ),
    `${fmtInt(d.messages ?? 0)} messages committed`,
    d.connections ? plural(d.connections, 'connection') : null,
    d.parseFailures ? `${fmtInt(d.parseFailures)} neither RFC 5424 nor 3164 (kept as format unknown)` : null,
    d.truncated ? `${fmtInt(d.truncated)} cut at maxMessageBytes` : null,
    dropped.length ? `dropped: ${dropped.map(([why, n]) => `${fmtInt(n)} ${why}`).join(', ')}` : null,
  );
}

/** A Sparkplug host: its broker, the nodes and devices online, the faults seen (cli/sources.ts words the same). */
function sparkplugSummary(d, state) {
  const of = (x, what) => `${fmtInt(x?.online ?? 0)}/${fmtInt((x?.online ?? 0) + (x?.offline ?? 0))} ${what} online`;
  return parts(
    h('code', null, d.url ?? ''),
    state !== 'connected' && d.downSince ? h('span', null, 'no connection since ', h('time', { datetime: d.downSince }, fmtTime(d.downSince))) : null,
    of(d.nodes, 'nodes'),
    of(d.devices, 'devices'),
    `${plural(d.births ?? 0, 'birth')}, ${plural(d.deaths ?? 0, 'death')}`,
    d.seqGaps ? plural(d.seqGaps, 'seq gap') : null,
    d.rebirthsRequested ? plural(d.rebirthsRequested, 'rebirth requested', 'rebirths requested') : null,
    d.unresolvedMetrics ? `${fmtInt(d.unresolvedMetrics)} metrics with an unknown alias` : null,
    d.untracked ? `${fmtInt(d.untracked)} past a bound` : null,
    d.undecodable ? `${fmtInt(d.undecodable)} undecodable` : null,
    d.writes
      ? `${plural(d.writes.ok ?? 0, 'command')} sent${d.writes.refused ? `, ${fmtInt(d.writes.refused)} refused` : ''}${d.writes.failed ? `, ${fmtInt(d.writes.failed)} failed` : ''}`
      : null,
    d.lastMessageAt ? h('span', null, 'last message ', h('time', { datetime: d.lastMessageAt }, fmtTime(d.lastMessageAt))) : 'no message yet',
  );
}

/** A kind this page does not know yet: its scalar details, as they are. */
function genericSummary(d) {
  const scalars = Object.entries(d).filter(([k, v]) => k !== 'lastError' && ['string', 'number', 'boolean'].includes(typeof v));
  return parts(...scalars.slice(0, 5).map(([k, v]) => `${k} ${typeof v === 'number' ? fmtInt(v) : v}`));
}

const SUMMARY = { modbus: modbusSummary, opcua: opcuaSummary, mqtt: mqttSummary, http: httpSummary, syslog: syslogSummary, sparkplug: sparkplugSummary };

/** lastError as {at, message}: an MQTT source gives both in lastError, Modbus and OPC UA the time in lastErrorAt. */
function lastErrorOf(d) {
  const e = d.lastError;
  if (!e) return undefined;
  return typeof e === 'string' ? { at: d.lastErrorAt ?? undefined, message: e } : { at: e.at, message: e.message };
}

function errorItem(key, label, err, current) {
  return h(
    'li',
    { class: `source-error-item ${current ? 'current' : 'past'}`, 'data-source-error': key },
    h('strong', null, `${label}: `),
    err.at ? h('time', { datetime: err.at }, fmtTime(err.at)) : null,
    err.at ? ' ' : null,
    h('span', { class: 'source-error' }, err.message),
  );
}

/** Tag errors listed per device; the rest counted (all of them: GET /api/sources, the device's tagErrors). */
const TAG_ERRORS_SHOWN = 5;

/** A device that answers but refuses tags: one item a tag, as `gatehouse sources` lists them. */
function tagErrorItems(source, dev) {
  const errors = Object.entries(dev.tagErrors ?? {});
  const items = errors
    .slice(0, TAG_ERRORS_SHOWN)
    .map(([tag, message]) => errorItem(`${source}/${dev.name}/${tag}`, `${source} / ${dev.name} tag ${tag}`, { message }, true));
  if (errors.length > TAG_ERRORS_SHOWN) {
    const more = errors.length - TAG_ERRORS_SHOWN;
    items.push(
      h(
        'li',
        { class: 'source-error-item current', 'data-source-error': `${source}/${dev.name}/more` },
        h('strong', null, `${source} / ${dev.name}: `),
        `${plural(more, 'more tag')} with errors (`,
        h('a', { href: '/api/sources' }, '/api/sources'),
        ' lists them)',
      ),
    );
  }
  return items;
}

export function renderSources(o) {
  const rows = [];
  const errItems = [];
  // Built-in sources (`builtIn: true`: the embedded broker, serial links, control, republish) are
  // no `sources:` entry; the broker and the links have sections of their own.
  for (const s of (o.sources ?? []).filter((x) => x.kind !== 'file' && x.builtIn !== true)) {
    const d = s.details ?? {};
    const stateClass = STATE_CLASS[s.state] ?? '';
    const refused = s.kind === 'mqtt' && s.state === 'connected' && (d.subscriptions ?? []).some((x) => x.qos === null);
    const err = lastErrorOf(d);
    // Messages it dropped (acknowledged, not taken: unmatched, too large, an invalid topic) say why
    // in the last error, which is no earlier error of a connection since recovered.
    const dropped = s.kind === 'mqtt' && (d.dropped ?? 0) > 0 && /was dropped/.test(err?.message ?? '');
    // Current while the source is not connected (or a subscription is refused); else recovered since.
    const current = err !== undefined && (stateClass !== 'ok' || refused || dropped);
    rows.push(
      h(
        'tr',
        { 'data-source': s.name, class: current ? 'has-error' : undefined },
        h('th', { scope: 'row' }, s.name),
        h('td', null, s.kind),
        h('td', { class: 'state' }, h('span', { class: `badge ${stateClass}` }, s.state)),
        h('td', { class: 'summary' }, ...(SUMMARY[s.kind] ?? genericSummary)(d, s.state)),
      ),
    );
    if (err) errItems.push(errorItem(s.name, current ? s.name : `${s.name}: earlier error (connected since)`, err, current));
    // A Modbus device that stops answering while the link is up (a wrong unit id, a PLC in stop);
    // one that answers but refuses tags is not failing, and its tags were in the API only.
    for (const dev of s.kind === 'modbus' ? (d.devices ?? []) : []) {
      if (dev.state === 'failing' && dev.lastError) errItems.push(errorItem(`${s.name}/${dev.name}`, `${s.name} / ${dev.name}`, lastErrorOf(dev), true));
      else errItems.push(...tagErrorItems(s.name, dev));
    }
  }
  $('sources-body').replaceChildren(...(rows.length ? rows : [emptyRow(4, 'No Modbus, OPC UA, MQTT, HTTP, syslog, SNMP or Sparkplug sources configured.')]));
  $('source-errors').replaceChildren(...errItems);
  $('source-errors').hidden = errItems.length === 0;
}
