// Status page: the scheduled jobs (jobs: in the config): schedule, last run, next run, runs since
// start, and each job's error below the table (the last run's, or an earlier one recovered since).
import { $, emptyRow, h } from './dom.js';
import { fmtInt, fmtMs, fmtTime } from './format.js';

const RESULT_CLASS = { ok: 'ok', failed: 'bad', skipped: 'muted' };

export function renderJobs(o) {
  const jobs = o.jobs ?? [];
  const rows = [];
  const errItems = [];
  for (const j of jobs) {
    const last = j.lastRun;
    const failing = last?.result === 'failed';
    rows.push(
      h(
        'tr',
        { 'data-job': j.name, class: failing ? 'has-error' : undefined },
        h('th', { scope: 'row' }, j.name),
        h('td', null, j.type, j.rule ? h('small', { class: 'muted' }, ` ${j.rule}`) : null),
        h('td', null, h('code', null, j.schedule), j.timezone ? h('small', { class: 'muted' }, ` ${j.timezone}`) : null),
        h('td', { class: 'last-run' }, last ? h('time', { datetime: last.at }, fmtTime(last.at)) : 'never'),
        h(
          'td',
          { class: 'result' },
          last ? h('span', { class: `badge ${RESULT_CLASS[last.result] ?? ''}` }, last.result) : null,
          j.running ? h('span', { class: 'badge' }, 'running') : null,
        ),
        h('td', { class: 'num' }, last && last.result !== 'skipped' ? fmtMs(last.durationMs) : '–'),
        h('td', { class: 'next-run' }, j.nextRun ? h('time', { datetime: j.nextRun }, fmtTime(j.nextRun)) : '–'),
        h('td', { class: 'num runs' }, `${fmtInt(j.runs?.ok)} / ${fmtInt(j.runs?.failed)} / ${fmtInt(j.runs?.skipped)}`),
      ),
    );
    const err = j.lastError;
    if (err) {
      // Below the table, as the exporters' errors: long messages wrap, even on a phone.
      errItems.push(
        h(
          'li',
          { class: `job-error-item ${failing ? 'current' : 'past'}`, 'data-job-error': j.name },
          h('strong', null, `${j.name}: ${failing ? 'last run failed' : 'earlier failure (runs succeeded since)'} `),
          h('time', { datetime: err.at }, fmtTime(err.at)),
          ' ',
          h('span', { class: 'job-error' }, err.message),
        ),
      );
    }
  }
  $('jobs-body').replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No scheduled jobs (jobs: in the config).')]));
  $('job-errors').replaceChildren(...errItems);
  $('job-errors').hidden = errItems.length === 0;
}
