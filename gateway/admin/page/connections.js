// Status page: what feeds the gateway: connected MQTT clients, serial links and tailed files.
import { $, emptyRow, h, num } from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, fmtTime } from './format.js';

export function renderClients(o) {
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
      // publishes over broker.maxPublishRatePerClient / maxPublishBytesPerSecPerClient: read more slowly
      h(
        'td',
        null,
        c.throttled ? h('strong', null, 'throttled') : '',
        c.throttles ? h('small', { class: 'muted' }, ` ${fmtInt(c.throttles)}× (${fmtDuration(c.throttledSeconds ?? 0)})`) : c.throttled ? '' : '–',
      ),
    ),
  );
  $('clients-body').replaceChildren(...(rows.length ? rows : [emptyRow(7, 'No MQTT clients connected.')]));
}

export function renderLinks(o) {
  const rows = (o.links ?? []).map((l) =>
    h(
      'tr',
      { 'data-link': l.name },
      h('th', { scope: 'row' }, l.name),
      h('td', null, h('code', null, l.path ?? '')),
      h(
        'td',
        null,
        h('span', { class: `badge ${l.state === 'open' ? 'ok' : 'bad'}` }, l.state),
        // Backpressure: maxInFlight frames not committed yet, the device's bytes wait in the port.
        l.paused ? ' ' : null,
        l.paused
          ? h(
              'span',
              { class: 'badge warn', title: `reading paused since ${fmtTime(l.pausedAt)}: ${l.inFlight} of ${l.maxInFlight} frames not committed` },
              'paused',
            )
          : null,
      ),
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
export function renderFiles(o) {
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
    // The source's own error (a scan that failed), which no file row carries; or nothing matched:
    // a folder that does not exist is no error (it is picked up when it appears), so a typo in
    // paths showed as 'No file sources configured.'. Worded as `gatehouse sources` words them.
    const none = (d.files ?? []).length === 0 && (d.unreadable ?? []).length === 0 && (d.vanished ?? []).length === 0;
    if (d.lastError || none) {
      rows.push(
        h(
          'tr',
          { 'data-file-source': src.name },
          h('th', { scope: 'row' }, '–'),
          h('td', null, src.name),
          h('td', null, h('span', { class: d.lastError ? 'badge bad' : 'badge warn' }, d.lastError ? 'problem' : 'no file')),
          h('td', { colspan: '5' }, ''),
          h(
            'td',
            { class: 'error-text' },
            d.lastError
              ? `last error: ${d.lastError}`
              : 'no file matches its paths yet (check them for a typo: a folder that does not exist is no error, it is watched for)',
          ),
        ),
      );
    }
    for (const u of [
      ...(d.unreadable ?? []),
      ...(d.vanished ?? []).map((v) => ({ path: v.path, error: `disappeared with ${v.unreadBytes ?? 'unknown'} unread bytes` })),
    ]) {
      rows.push(
        h(
          'tr',
          { 'data-file': u.path },
          h('th', { scope: 'row' }, h('code', null, u.path)),
          h('td', null, src.name),
          h('td', null, h('span', { class: 'badge bad' }, 'problem')),
          h('td', { colspan: '5' }, ''),
          h('td', { class: 'error-text' }, u.error),
        ),
      );
    }
  }
  $('files-body').replaceChildren(...(rows.length ? rows : [emptyRow(9, 'No file sources configured.')]));
}
