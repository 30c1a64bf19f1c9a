// `gatehouse snmp walk`: list what an SNMP agent answers under an OID (default the system group),
// each object with its name (built-in, or from MIB files), type and value, to find what to put in
// an snmp source's polls: as `gatehouse opcua browse` does for OPC UA. The agent's credentials come
// from a configured target (`--config FILE --target NAME`: no community or passphrase on the command
// line, in the shell's history) or, for v1/v2c, from --host/--community(-file). Loads net-snmp, and
// parses MIB files, only when run.
import { resolve } from 'node:path';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import type { CliIO } from './io.js';
import { parseCliArgs, writeLine } from './io.js';

const USAGE =
  'gatehouse snmp walk [OID] (--config FILE --target NAME [--source NAME] | --host HOST [--port N] [--version 1|2c] [--community C | --community-file F]) [--mibs PATH]... [--max N] [--json]';

const HELP = `Walks an SNMP agent under OID (default 1.3.6.1.2.1.1, the system group; a name such as ifTable,
ifXTable or, with --mibs, any name the MIB files define) and prints each object: its numeric OID,
its name, its type and value, to find what to put in an snmp source's fields and tables.
  --config FILE --target NAME   the agent and credentials of a target of an snmp source in FILE
                                (v1, v2c or v3), with that source's mibs; --source NAME when several
                                snmp sources have a target of that name
  --host HOST [--port N]        an agent given here instead (v1 or v2c; default port 161)
  --version 1|2c                (default 2c)  --community C (default public) or --community-file F
  --mibs PATH                   MIB files or directories naming the objects (repeat it; added to the
                                source's with --config)
  --max N                       stop after N objects (default 1000)
  --timeout MS                  wait per request (default 2000), then one retry
  --json                        the rows as JSON on stdout
Exit codes: 0 walked (maybe nothing under OID), 1 the agent did not answer or refused, 2 bad arguments.`;

interface Row {
  oid: string;
  name: string;
  type: string;
  value: unknown;
}

export async function runSnmp(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    writeLine(sub === undefined ? io.stderr : io.stdout, `usage: ${USAGE}${sub === undefined ? '' : `\n${HELP}`}`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'walk') throw new GatehouseError('GH_ARG_INVALID', `unknown snmp subcommand '${sub}'`, { hint: `usage: ${USAGE}` });
  const { values, positionals } = parseCliArgs(
    rest,
    {
      config: { type: 'string' },
      source: { type: 'string' },
      target: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      version: { type: 'string' },
      community: { type: 'string' },
      'community-file': { type: 'string' },
      mibs: { type: 'string', multiple: true },
      max: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
    true,
  );
  if (values.help) {
    writeLine(io.stdout, `usage: ${USAGE}\n${HELP}`);
    return 0;
  }
  if (positionals.length > 1)
    throw new GatehouseError('GH_ARG_INVALID', `one OID to walk, got ${positionals.length}: ${positionals.join(' ')}`, { hint: `usage: ${USAGE}` });
  const whole = (name: string, text: string | undefined, fallback: number, max: number): number => {
    const n = Number(text ?? fallback);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new GatehouseError('GH_ARG_INVALID', `--${name} must be a whole number from 1 to ${max}, got '${text}'`, {
        where: `--${name}`,
        hint: `usage: ${USAGE}`,
      });
    return n;
  };
  const maxRows = whole('max', values.max, 1000, 1_000_000);
  const { snmpTargetSchema } = await import('../pipeline/sources/snmp/options.js');
  type Target = import('../pipeline/sources/snmp/options.js').SnmpTarget;
  let target: Target;
  let mibs = (values.mibs ?? []).map((p) => resolve(p));
  if (values.config !== undefined || values.target !== undefined) {
    if (values.config === undefined || values.target === undefined)
      throw new GatehouseError('GH_ARG_INVALID', '--config FILE and --target NAME go together', { hint: `usage: ${USAGE}` });
    if (values.host !== undefined || values.community !== undefined || values['community-file'] !== undefined)
      throw new GatehouseError(
        'GH_ARG_INVALID',
        '--host, --community and --community-file are for an agent not in the config: give either them or --config/--target',
        {
          hint: `usage: ${USAGE}`,
        },
      );
    const { loadConfig } = await import('../config/index.js');
    const config = await loadConfig(values.config);
    const sources = ((config.sources ?? []) as Array<{ type: string; name: string; targets?: Target[]; mibs?: string[] }>).filter(
      (s) => s.type === 'snmp' && (values.source === undefined || s.name === values.source) && s.targets?.some((t) => t.name === values.target),
    );
    if (sources.length !== 1)
      throw new GatehouseError(
        'GH_ARG_INVALID',
        sources.length === 0
          ? `no snmp source${values.source ? ` '${values.source}'` : ''} in ${values.config} has a target '${values.target}'`
          : `targets named '${values.target}' are in the snmp sources ${sources.map((s) => `'${s.name}'`).join(', ')}: name one with --source`,
        { where: '--target' },
      );
    const source = sources[0]!;
    target = { ...source.targets!.find((t) => t.name === values.target)! };
    mibs = [...(source.mibs ?? []), ...mibs];
  } else {
    if (values.host === undefined)
      throw new GatehouseError('GH_ARG_INVALID', 'name the agent: --host HOST, or --config FILE --target NAME', { hint: `usage: ${USAGE}` });
    const parsed = snmpTargetSchema.safeParse({
      name: 'agent',
      host: values.host,
      port: values.port === undefined ? undefined : Number(values.port),
      version: values.version ?? '2c',
      community: values.community,
      communityFile: values['community-file'] === undefined ? undefined : resolve(values['community-file']),
    });
    if (!parsed.success || parsed.data.version === '3') {
      const why = parsed.success
        ? 'version 3 needs a user: give it in a config file and use --config/--target'
        : parsed.error.issues.map((i) => `--${String(i.path[0] ?? 'host')}: ${i.message}`).join('; ');
      throw new GatehouseError('GH_ARG_INVALID', why, { hint: `usage: ${USAGE}` });
    }
    target = parsed.data;
  }
  target.timeoutMs = whole('timeout', values.timeout, target.timeoutMs, 60_000);
  const lib = ((await import('net-snmp')) as unknown as { default: import('../pipeline/sources/snmp/lib.js').NetSnmp }).default;
  const { resolveOid, displayName } = await import('../pipeline/sources/snmp/oids.js');
  const names = mibs.length > 0 ? await (await import('../pipeline/sources/snmp/mibs.js')).loadMibNames('cli', mibs, undefined) : undefined;
  const text = positionals[0] ?? '1.3.6.1.2.1.1';
  let base = resolveOid(text);
  if (base === undefined && names) {
    const r = names.resolve(text);
    if ('problem' in r) throw ERRORS.GH_SNMP_MIB({ source: 'walk', reason: r.problem }, { where: 'OID' });
    base = r.oid;
  }
  if (base === undefined)
    throw new GatehouseError('GH_ARG_INVALID', `not an OID: '${text}'`, {
      where: 'OID',
      hint: 'a numeric OID (1.3.6.1.2.1.2.2), a built-in name (ifTable, sysName) or, with --mibs, a name the MIB files define',
    });
  const { openSession, requestError } = await import('../pipeline/sources/snmp/sessions.js');
  const { jsonValue, typeName, isMissing } = await import('../pipeline/sources/snmp/values.js');
  const session = openSession(lib, target, `--target ${target.name}`);
  session.on('error', () => undefined);
  const rows: Row[] = [];
  try {
    await new Promise<void>((done, fail) =>
      session.subtree(
        base,
        20,
        (vbs) => {
          for (const vb of vbs) {
            if (isMissing(vb)) continue;
            rows.push({ oid: vb.oid, name: displayName(vb.oid, names), type: typeName(vb.type), value: jsonValue(vb) });
            if (rows.length >= maxRows) return true;
          }
          return undefined;
        },
        (err) => (err ? fail(err) : done()),
      ),
    );
  } catch (err) {
    const { error } = requestError(lib, target, err);
    throw error;
  } finally {
    session.close();
  }
  if (values.json) {
    writeLine(io.stdout, JSON.stringify(rows, null, 2));
    // The JSON is the rows alone (a script reads it): that it stopped short goes to stderr.
    if (rows.length >= maxRows)
      writeLine(io.stderr, `gatehouse snmp: stopped at --max ${maxRows}: more objects may follow under ${base}; raise --max to list them`);
  } else {
    writeLine(
      io.stdout,
      `${target.host}:${target.port} v${target.version} under ${base}${base !== text ? ` (${text})` : ''}: ${rows.length} object(s)${rows.length >= maxRows ? ` (stopped at --max ${maxRows})` : ''}`,
    );
    const width = Math.min(40, Math.max(0, ...rows.map((r) => r.oid.length)));
    for (const r of rows) writeLine(io.stdout, `  ${r.oid.padEnd(width)}  ${r.name}  ${r.type} = ${JSON.stringify(r.value)}`);
  }
  return 0;
}
