// `gatehouse jobs`: the scheduled jobs of the running gateway (GET /api/jobs): schedule, last run,
// next run, counts since start.
import type { JobStatus } from '../control/jobs.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminGet, resolveAdmin } from './admin-client.js';

const USAGE = 'gatehouse jobs [--admin URL | --config FILE] [--token T] [--json]';

export async function runJobs(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(argv, ADMIN_COMMAND_OPTIONS, USAGE);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nShows each scheduled job (jobs: in the config): its schedule, last run (start time, result, duration, error), next run and runs since start.\n${ADMIN_FLAGS_HELP}\n${JSON_FLAG_HELP}`,
    );
    return 0;
  }
  const target = await resolveAdmin(values.admin, values.config, values.token);
  const body = (await adminGet(target, '/api/jobs', 'jobs')) as unknown as { jobs: JobStatus[] };
  if (values.json) {
    writeLine(io.stdout, JSON.stringify(body, null, 2));
    return 0;
  }
  if (body.jobs.length === 0) writeLine(io.stdout, 'no scheduled jobs (jobs: in the config, docs/jobs.md)');
  for (const j of body.jobs) writeLine(io.stdout, describeJob(j));
  return 0;
}

/** One job's line: what and when, the last run, the next, the counts, and an earlier error still worth seeing. */
export function describeJob(j: JobStatus): string {
  const what = `${j.name} (${j.type}${j.rule ? ` ${j.rule}` : ''}) '${j.schedule}'${j.timezone ? ` ${j.timezone}` : ''}`;
  const l = j.lastRun;
  const last = l
    ? `last ${l.result === 'failed' ? 'FAILED' : l.result} at ${l.at}${l.result === 'skipped' ? ' (the run before was still going)' : ` in ${l.durationMs} ms`}${l.error ? `: ${l.error}` : ''}`
    : 'not run yet';
  const earlier = j.lastError && l?.result !== 'failed' ? `; last failure at ${j.lastError.at}: ${j.lastError.message}` : '';
  const { ok, failed, skipped } = j.runs;
  return `${what}: ${j.running ? 'RUNNING now; ' : ''}${last}; next ${j.nextRun ?? 'none planned'}; runs ${ok} ok, ${failed} failed, ${skipped} skipped${earlier}`;
}
