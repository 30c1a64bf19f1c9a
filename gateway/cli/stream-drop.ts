// `gatehouse streams drop NAME [--records N]`: drop a local stream nothing uses any more from the
// running gateway (admin API: DELETE /api/streams/{name}?records=N). A stream holding records goes
// only with --records saying how many it holds now: they never reach upstream.
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import type { StreamDropResult } from '../admin/stream-drop.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminRequest, resolveAdmin } from './admin-client.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

export const DROP_USAGE = 'gatehouse streams drop NAME [--records N] [--admin URL | --config FILE] [--token T] [--json]';

const DROP_HELP = `usage: ${DROP_USAGE}
Drops a local stream that nothing uses any more (a stream removed from the config, the stream of an
upstream rule action whose destination is unknown, the dead letters an exporter removed from the
config left), with its checkpoints. A stream holding records goes only with --records N, N being
what it holds now ('gatehouse streams' shows it): those records are thrown away, never sent, and
counted in gatehouse_stream_discarded_records_total. Refused, with who uses it and what to do, for a
stream of the config, one an exporter sends or puts its dead letters in, one a rule writes, and
the gateway's own streams.
  --records N      the records you expect to throw away: exactly what it holds now
${ADMIN_FLAGS_HELP}
${JSON_FLAG_HELP}`;

/**
 * The API's refusal of a count says how to confirm in its own terms (?records=N); the user of
 * this command confirms with --records N: said so, with the command line to run.
 */
function inCliTerms(err: unknown, name: string): unknown {
  if (!isGatehouseError(err, 'GH_STREAM_DROP_COUNT')) return err;
  const held = /holds (\d+) records/.exec(err.message)?.[1];
  return new GatehouseError('GH_STREAM_DROP_COUNT', err.message.replace(/\?records=N\b/g, '--records N'), {
    hint: held
      ? `its records never reach upstream once dropped: read them first (gatehouse streams read ${name}), then confirm with: gatehouse streams drop ${name} --records ${held}`
      : err.hint?.replace(/\?records=(\w+)/g, '--records $1'),
  });
}

export async function runStreamDrop(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { ...ADMIN_COMMAND_OPTIONS, records: { type: 'string' } }, DROP_USAGE, true);
  const v = values as { help?: boolean; admin?: string; config?: string; token?: string; json?: boolean; records?: string };
  if (v.help) {
    writeLine(io.stdout, DROP_HELP);
    return 0;
  }
  if (positionals.length !== 1)
    throw new GatehouseError('GH_ARG_INVALID', `expected one stream NAME, got ${positionals.length}`, { hint: `usage: ${DROP_USAGE}` });
  const name = positionals[0] as string;
  if (v.records !== undefined && (!/^\d+$/.test(v.records) || !Number.isSafeInteger(Number(v.records)))) {
    throw new GatehouseError('GH_ARG_INVALID', `--records must be a whole number (0 or more), got '${v.records}'`, { hint: `usage: ${DROP_USAGE}` });
  }
  const target = await resolveAdmin(v.admin, v.config, v.token);
  const query = v.records === undefined ? '' : `?records=${Number(v.records)}`;
  const r = (await adminRequest(target, 'DELETE', `/api/streams/${encodeURIComponent(name)}${query}`).catch((err: unknown) => {
    throw inCliTerms(err, name);
  })) as StreamDropResult;
  writeLine(
    io.stdout,
    v.json
      ? JSON.stringify(r, null, 2)
      : r.records > 0
        ? `dropped ${r.stream} with the ${r.records} records it held (${r.bytes} bytes): they will never reach upstream`
        : `dropped ${r.stream} (it held no records)`,
  );
  return 0;
}
