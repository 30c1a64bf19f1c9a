// Status page: the streams table, the exporters table and the exporter errors listed below it.
import { $, emptyRow, h, num } from './dom.js';
import { fmtBytes, fmtDestination, fmtDuration, fmtInt, fmtTime } from './format.js';

export function renderStreams(o) {
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
      h(
        'td',
        { class: 'num' },
        h('meter', { min: 0, max: 1, value: full, high: 0.8, optimum: 0, title: pct }),
        ` ${pct}`,
        s.onFull ? h('small', { class: 'muted' }, ` ${s.onFull}`) : null,
      ),
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
      // An error is current unless a later export succeeded (told by the gateway: `current`).
      const current = err?.current === true;
      const stateClass = e.state === 'running' && !current ? 'ok' : e.state === 'stopped' ? 'muted' : 'bad';
      exRows.push(
        h(
          'tr',
          { 'data-exporter': e.name, class: current ? 'has-error' : undefined },
          h('th', { scope: 'row' }, e.name),
          h('td', null, `${e.stream} → `, h('span', { class: 'dest' }, fmtDestination(e.destination))),
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
            // Still failing after retries: since when (an outage of hours read as a fresh error).
            ...(current && err.since && err.since !== err.at
              ? [h('span', { class: 'failing-since' }, 'failing since ', h('time', { class: 'since', datetime: err.since }, fmtTime(err.since)), ', latest ')]
              : []),
            h('time', { class: 'at', datetime: err.at }, fmtTime(err.at)),
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
