// `gatehouse streams dead-letters|redrive|purge`: the dead letters of the running gateway, listed
// with their errors grouped, sent again to the stream they came from, or cleared (admin API:
// GET /api/dead-letters, POST /api/streams/{dlq}/redrive, DELETE /api/streams/{dlq}/records).
import { GatehouseError } from '../../core/errors.js';
import type { DeadLetterSummary, PurgeResult, RedriveResult } from '../admin/dead-letters.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminGet, adminRequest, resolveAdmin, type AdminTarget } from './admin-client.js';
import { counted, parseCliArgs, writeLine, type CliIO } from './io.js';

const TARGET = '[--admin URL | --config FILE] [--token T] [--json]';
export const DEAD_LETTERS_USAGE = `gatehouse streams dead-letters [STREAM] ${TARGET}`;
export const REDRIVE_USAGE = `gatehouse streams redrive DLQ [--through SEQ] [--limit N] [--to STREAM] ${TARGET}`;
export const PURGE_USAGE = `gatehouse streams purge DLQ --through SEQ|last ${TARGET}`;

const DEAD_LETTERS_HELP = `usage: ${DEAD_LETTERS_USAGE}
Lists the dead-letter streams (or the one named): how many dead letters each holds, the oldest,
the streams they came from, and their errors grouped with a count and one example each.
${ADMIN_FLAGS_HELP}
${JSON_FLAG_HELP}`;

const REDRIVE_HELP = `usage: ${REDRIVE_USAGE}
Sends dead letters again: each is appended to the stream it came from (its sourceStream attribute)
with its topic, payload, key and receivedAt, and removed from DLQ once that append is on disk; its
exporter then sends it. Fix what made the destination refuse them first.
  --through SEQ    the last dead letter to send (default: the last one held when the command starts)
  --limit N        at most N dead letters
  --to STREAM      append them to STREAM instead (an exported stream: e.g. when the one they came
                   from was dropped with its retired rule action)
Works in steps of ${1000} dead letters, each one request; every target stream is checked before a
step moves anything. Stopped (Ctrl-C, a lost connection), the gateway ends the step at its next
chunk of 500: what went is out of DLQ, the rest is in it; run the command again to send the rest.
${ADMIN_FLAGS_HELP}
${JSON_FLAG_HELP}`;

const PURGE_HELP = `usage: ${PURGE_USAGE}
Removes the dead letters of DLQ through SEQ (read them first: gatehouse streams dead-letters DLQ,
GET /api/streams/DLQ/records), or every one held now with --through last. Only dead-letter
streams: a live stream's records leave it once exported.
${ADMIN_FLAGS_HELP}
${JSON_FLAG_HELP}`;

/** Dead letters per redrive request: each answers within the CLI's deadline (admin-client.ts). */
const REDRIVE_STEP = 1000;

const OPTIONS = { ...ADMIN_COMMAND_OPTIONS, through: { type: 'string' }, limit: { type: 'string' }, to: { type: 'string' } } as const;

function seqArg(value: string | undefined, flag: string, usage: string, last: boolean): number | 'last' | undefined {
  if (value === undefined) return undefined;
  if (last && value === 'last') return 'last';
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new GatehouseError('GH_ARG_INVALID', `${flag} must be a sequence number${last ? " or 'last'" : ''} (1 or more), got '${value}'`, {
      hint: `usage: ${usage}`,
    });
  }
  return Number(value);
}

function oneStream(positionals: string[], usage: string, required: boolean): string | undefined {
  if (positionals.length > 1) throw new GatehouseError('GH_ARG_INVALID', `expected one stream, got ${positionals.length}`, { hint: `usage: ${usage}` });
  if (required && positionals.length === 0) throw new GatehouseError('GH_ARG_INVALID', 'expected the dead-letter stream DLQ', { hint: `usage: ${usage}` });
  return positionals[0];
}

const path = (name: string, what: string): string => `/api/streams/${encodeURIComponent(name)}/${what}`;

export async function runDeadLettersCommand(sub: 'dead-letters' | 'redrive' | 'purge', argv: string[], io: CliIO): Promise<number> {
  const usage = sub === 'dead-letters' ? DEAD_LETTERS_USAGE : sub === 'redrive' ? REDRIVE_USAGE : PURGE_USAGE;
  const options = sub === 'dead-letters' ? ADMIN_COMMAND_OPTIONS : sub === 'redrive' ? OPTIONS : { ...ADMIN_COMMAND_OPTIONS, through: OPTIONS.through };
  const { values, positionals } = parseCliArgs(argv, options, usage, true);
  const v = values as { help?: boolean; admin?: string; config?: string; token?: string; json?: boolean; through?: string; limit?: string; to?: string };
  if (v.help) {
    writeLine(io.stdout, sub === 'dead-letters' ? DEAD_LETTERS_HELP : sub === 'redrive' ? REDRIVE_HELP : PURGE_HELP);
    return 0;
  }
  const name = oneStream(positionals, usage, sub !== 'dead-letters');
  if (sub === 'purge') {
    const through = seqArg(v.through, '--through', usage, true);
    if (through === undefined)
      throw new GatehouseError('GH_ARG_INVALID', 'purge needs --through SEQ (the last dead letter to remove, one you read) or --through last', {
        hint: `usage: ${usage}`,
      });
    const target = await resolveAdmin(v.admin, v.config, v.token);
    const r = (await adminRequest(target, 'DELETE', `${path(name as string, 'records')}?through=${through}`)) as PurgeResult;
    writeLine(
      io.stdout,
      v.json ? JSON.stringify(r, null, 2) : `purged ${counted(r.purged, 'dead letter')} of ${r.stream} through seq ${r.through}; ${after(r)}`,
    );
    return 0;
  }
  const target = await resolveAdmin(v.admin, v.config, v.token);
  if (sub === 'dead-letters') {
    const body = (await adminGet(target, name === undefined ? '/api/dead-letters' : path(name, 'dead-letters'), 'deadLetters')) as unknown as {
      deadLetters: DeadLetterSummary[];
    };
    if (v.json) writeLine(io.stdout, JSON.stringify(body, null, 2));
    else if (body.deadLetters.length === 0) writeLine(io.stdout, 'no dead-letter streams');
    else for (const s of body.deadLetters) writeLine(io.stdout, describeDeadLetters(s));
    return 0;
  }
  const limit = seqArg(v.limit, '--limit', usage, false) as number | undefined;
  return redrive(target, name as string, seqArg(v.through, '--through', usage, false) as number | undefined, limit, v.to, v.json === true, io);
}

/** The redrive in steps, through a sequence fixed at the start: a dead letter refused again meanwhile is not sent round again. */
async function redrive(
  target: AdminTarget,
  name: string,
  throughArg: number | undefined,
  limit: number | undefined,
  to: string | undefined,
  json: boolean,
  io: CliIO,
): Promise<number> {
  const streams = (await adminGet(target, '/api/streams', 'streams')) as unknown as { streams: Array<{ name: string; lastSeq: number }> };
  const through = throughArg ?? streams.streams.find((s) => s.name === name)?.lastSeq;
  const total: RedriveResult = { stream: name, redriven: 0, to: {}, through: 0, firstSeq: 0, records: 0, dropped: false };
  let failure: unknown;
  for (;;) {
    const step = limit === undefined ? REDRIVE_STEP : Math.min(REDRIVE_STEP, limit - total.redriven);
    if (step <= 0) break;
    const query = new URLSearchParams({
      ...(through === undefined ? {} : { through: String(through) }),
      limit: String(step),
      ...(to === undefined ? {} : { to }),
    });
    let r: RedriveResult;
    try {
      r = (await adminRequest(target, 'POST', `${path(name, 'redrive')}?${query}`)) as RedriveResult;
    } catch (err) {
      failure = err;
      break;
    }
    total.redriven += r.redriven;
    for (const [s, n] of Object.entries(r.to)) total.to[s] = (total.to[s] ?? 0) + n;
    Object.assign(total, { through: r.through, firstSeq: r.firstSeq, records: r.records, dropped: r.dropped });
    if (r.redriven < step || r.dropped || (through !== undefined && r.firstSeq > through)) break;
  }
  if (failure !== undefined && total.redriven === 0) throw failure;
  const where = Object.entries(total.to)
    .map(([s, n]) => `${n} into ${s}`)
    .join(', ');
  writeLine(
    io.stdout,
    json
      ? JSON.stringify(total, null, 2)
      : `redrove ${counted(total.redriven, 'dead letter')} of ${name}${where ? ` (${where})` : ''}${total.redriven > 0 ? ` through seq ${total.through}` : ''}; ${after(total)}`,
  );
  if (failure !== undefined) throw failure;
  return 0;
}

function after(r: { stream: string; firstSeq: number; records: number; dropped: boolean }): string {
  if (r.dropped) return `${r.stream} is empty and was dropped (no exporter or rule writes it any more)`;
  return r.records === 0 ? `${r.stream} is empty` : `${r.stream} holds ${r.records} (from seq ${r.firstSeq})`;
}

/** One dead-letter stream: what it holds, where from, the errors grouped. */
export function describeDeadLetters(s: DeadLetterSummary): string {
  const of = s.exporters.length > 0 ? ` (of ${s.exporters.join(', ')})` : ' (no exporter writes it any more)';
  const dropped = s.droppedRecords > 0 ? `, ${s.droppedRecords} older ones dropped (deadLetterMaxBytes)` : '';
  // A redrive, purge or drop of it running now (another one is refused until it ends).
  const r = s.running;
  const running = r ? `\n  ${r.operation} running since ${r.startedAt}${r.redriven === undefined ? '' : `: ${r.redriven} moved so far`}` : '';
  if (s.records === 0) return `${s.stream}${of}: empty${dropped}${running}`;
  const from = Object.entries(s.sources)
    .map(([src, n]) => `${src} ${n}`)
    .join(', ');
  const lines = [
    `${s.stream}${of}: ${counted(s.records, 'dead letter')}, seq ${s.firstSeq}..${s.lastSeq}, oldest ${s.oldestAt ?? '-'}, from ${from}${dropped}`,
  ];
  for (const g of s.errors) {
    const e = g.example;
    const id = e.sourceStream === null ? '' : `, was ${e.sourceStream}:${e.sourceSeq ?? '?'}`;
    lines.push(
      `  ${g.count} x ${g.error}\n      e.g. seq ${e.seq}: topic ${e.topic}, received ${e.receivedAt}${id}, ${e.destination ?? '?'}, ${e.attempts === null ? '? attempts' : counted(e.attempts, 'attempt')}`,
    );
  }
  if (s.otherErrors > 0) lines.push(`  ${s.otherErrors} x other errors`);
  return lines.join('\n') + running;
}
