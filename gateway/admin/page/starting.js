// Status page: a gateway that is not started yet (its start waits for disk space to open the store,
// `starting` in the overview): what it waits for, since when, free vs needed bytes, what to do, and
// that the broker stays down meanwhile. The panels of a running gateway are hidden until it runs.
import { $, h } from './dom.js';
import { fmtBytes, fmtTime } from './format.js';

/** Show the waiting panel for an overview with `starting`; true when shown (the caller hides the rest). */
export function renderStarting(o) {
  const panel = $('starting');
  const s = o.starting;
  panel.hidden = !s;
  if (!s) return false;
  const rows = [
    ['Waiting for', s.waitingFor],
    ['Since', s.since ? `${fmtTime(s.since)} (${s.attempts ?? 0} attempts)` : undefined],
    [
      'Free space',
      s.freeBytes === undefined
        ? undefined
        : `${fmtBytes(s.freeBytes ?? Number.NaN)} free, about ${fmtBytes(s.neededBytes)} needed to open${s.reserveBytes ? ` (+ ${fmtBytes(s.reserveBytes)} reserve for appends)` : ''}`,
    ],
    ['Store', s.storePath],
    ['Why', s.reason],
    ['What to do', s.whatToDo],
    ['Meanwhile', s.notRunning],
  ].filter(([, v]) => v !== undefined && v !== null);
  $('starting-rows').replaceChildren(...rows.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v))));
  return true;
}
