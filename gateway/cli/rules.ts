// `gatehouse rules ...`: evaluate and check rules offline; list, apply and roll back on a running gateway.
import { readFile } from 'node:fs/promises';
import { runRulesEval, runRulesCheck } from './rules-offline.js';
import { buildActionRegistry } from '../pipeline/actions/index.js';
import { allDestinationKinds } from '../upstream/registry.js';
import { ERRORS, GatehouseError, fileErrorReason } from '../../core/errors.js';
import { ADMIN_FLAGS_HELP, adminGet, adminRequest, resolveAdmin, type AdminTarget } from './admin-client.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

const USAGE = `usage: gatehouse rules eval --sql 'SQL' --topic TOPIC --payload 'PAYLOAD' [--clientid ID] [--sql-version 2016-03-23|2015-10-08]
       gatehouse rules check FILE
       gatehouse rules list     [--admin URL | --config FILE] [--token T] [--json]
       gatehouse rules apply FILE [--force] [--probation] [--admin URL | --config FILE] [--token T]
       gatehouse rules rollback [--admin URL | --config FILE] [--token T]
       gatehouse rules sign FILE --key PREFIX.key --targets ID[,ID...|*] [--version N] [--expires-in 7d] [--key-id ID] [--out ENVELOPE.json]
       gatehouse rules sign --rollback-to VERSION --version N --targets ID --key PREFIX.key
       gatehouse rules keygen --out PREFIX [--force]`;

const LIST_USAGE = 'gatehouse rules list [--admin URL | --config FILE] [--token T] [--json]';
const LIST_HELP = `usage: ${LIST_USAGE}

Shows the running gateway's active rule set version, its probation if any, the outcome of the last
update attempt (applied, rejected, rolled back: when, from where, why) and each rule with its
counters (matched, emitted, errors, action failures) and SQL.
  --json           the whole GET /api/rules document
${ADMIN_FLAGS_HELP}`;

const APPLY_USAGE = 'gatehouse rules apply FILE [--force] [--probation] [--admin URL | --config FILE] [--token T]';
const APPLY_HELP = `usage: ${APPLY_USAGE}

Sends the rule set FILE (YAML or JSON) to the running gateway, which validates it and swaps it in
whole or refuses it (the running one is kept). Prints the outcome and version; each error of a
refused set on stderr. Exit 0 applied (or unchanged), 1 rejected.
  --force          apply even when the version is not above the active one
  --probation      roll back by itself to the last good set if a new or changed rule fails at run
                   time during control.probation
${ADMIN_FLAGS_HELP}`;

const ROLLBACK_USAGE = 'gatehouse rules rollback [--admin URL | --config FILE] [--token T]';
const ROLLBACK_HELP = `usage: ${ROLLBACK_USAGE}

Makes the running gateway go back to its last good rule set (the last confirmed one).
Prints the outcome and version. Exit 0 rolled back, 1 refused (e.g. no earlier set kept).
${ADMIN_FLAGS_HELP}`;

const remoteOptions = {
  admin: { type: 'string' },
  config: { type: 'string', short: 'c' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface RuleRow {
  name: string;
  enabled: boolean;
  matched?: number;
  emitted?: number;
  errors?: number;
  actionFailures?: number;
  sql: string;
}

interface LastUpdate {
  state: string;
  version?: number | null;
  /** rolled-back: the version left. */
  fromVersion?: number;
  source: string;
  at: string;
  code?: string;
  errors?: Array<{ message: string }>;
}

/** `rules list`: the outcome of the last update attempt (what happened, when, why). */
function describeLastUpdate(u: LastUpdate): string {
  const to = u.state === 'rolled-back' ? ' to' : '';
  const from = u.state === 'rolled-back' && u.fromVersion !== undefined ? ` from version ${u.fromVersion}` : '';
  const head = `  last update: ${u.state}${u.version == null ? '' : `${to} version ${u.version}`}${from} (${u.source})${u.code ? `, ${u.code}` : ''} at ${u.at}`;
  return [head, ...(u.errors ?? []).map((e) => `    - ${e.message}`)].join('\n');
}

/** `rules apply --probation`: whether the gateway watches the set now (control.probation.seconds 0: it does not). */
async function sayProbation(admin: AdminTarget, version: number | undefined, io: CliIO): Promise<void> {
  const body = (await adminGet(admin, '/api/rules', 'rules')) as unknown as {
    probation?: { version: number; endsAt: string; rules: string[] } | null;
    lastGoodVersion?: number | null;
  };
  const p = body.probation;
  if (p && p.version === version) writeLine(io.stdout, probationLine(p, body.lastGoodVersion));
  else
    writeLine(
      io.stderr,
      '  not on probation now: control.probation.seconds is 0 on this gateway (no automatic rollback), or the probation already ended (see gatehouse rules list)',
    );
}

/** The probation running now, and the set a failure rolls back to (the last confirmed one). */
function probationLine(p: { endsAt: string; rules: string[] }, lastGood: number | null | undefined): string {
  const watched = p.rules.join(', ') || '(no new or changed rule)';
  const to = lastGood == null ? '' : ` to version ${lastGood}, the last confirmed set,`;
  return `  on probation until ${p.endsAt}, watching: ${watched} (rolled back${to} by itself if one fails; control.probation)`;
}

export async function runRules(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'eval':
      return runRulesEval(rest, io);
    case 'check':
      return runRulesCheck(rest, io, buildActionRegistry({ mode: 'inert', destinations: allDestinationKinds }));
    case 'list': {
      const { values } = parseCliArgs(rest, { ...remoteOptions, json: { type: 'boolean' } }, LIST_USAGE);
      if (values.help) return help(io, 0, LIST_HELP);
      const body = (await adminGet(await resolveAdmin(values.admin, values.config, values.token), '/api/rules', 'rules')) as unknown as {
        activeVersion: number | null;
        lastGoodVersion?: number | null;
        lastUpdate: LastUpdate | null;
        probation?: { endsAt: string; rules: string[] } | null;
        rules: RuleRow[];
      };
      if (values.json) {
        writeLine(io.stdout, JSON.stringify(body, null, 2));
        return 0;
      }
      writeLine(io.stdout, `active rule set version ${body.activeVersion ?? '-'}`);
      if (body.probation) writeLine(io.stdout, probationLine(body.probation, body.lastGoodVersion));
      if (body.lastUpdate) writeLine(io.stdout, describeLastUpdate(body.lastUpdate));
      for (const r of body.rules) {
        writeLine(
          io.stdout,
          `  ${r.enabled ? ' ' : '-'} ${r.name}: matched ${r.matched ?? 0}, emitted ${r.emitted ?? 0}, errors ${r.errors ?? 0}, action failures ${r.actionFailures ?? 0}\n      ${r.sql.split('\n').join('\n      ')}`,
        );
      }
      return 0;
    }
    case 'apply': {
      const { values, positionals } = parseCliArgs(rest, { ...remoteOptions, force: { type: 'boolean' }, probation: { type: 'boolean' } }, APPLY_USAGE, true);
      if (values.help) return help(io, 0, APPLY_HELP);
      const file = positionals[0];
      if (!file || positionals.length > 1)
        throw new GatehouseError('GH_ARG_INVALID', file ? `expected one rule set FILE, got ${positionals.length}` : 'expected a rule set FILE', {
          hint: `usage: ${APPLY_USAGE}`,
        });
      const body = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw ERRORS.GH_CONFIG_READ(
          { what: 'rule set file', file, reason: fileErrorReason(err) },
          {
            where: file,
            hint: 'check the path and the file permissions',
            cause: err,
          },
        );
      });
      // --probation: rolled back by the gateway itself if a new or changed rule fails at run time (control.probation).
      const query = new URLSearchParams({ ...(values.force ? { force: '1' } : {}), ...(values.probation ? { probation: '1' } : {}) }).toString();
      const admin = await resolveAdmin(values.admin, values.config, values.token);
      const status = (await adminRequest(admin, 'PUT', `/api/rules${query ? `?${query}` : ''}`, body, 'application/yaml', [400])) as {
        state: string;
        version?: number;
        errors?: Array<{ rule: string; where: string; message: string }>;
      };
      writeLine(io.stdout, `${status.state}${status.version !== undefined ? ` version ${status.version}` : ''}`);
      for (const e of status.errors ?? []) writeLine(io.stderr, `  - ${e.rule ? `rule ${e.rule}` : 'rule set'}${e.where ? ` (${e.where})` : ''}: ${e.message}`);
      if (values.probation && status.state === 'applied') await sayProbation(admin, status.version, io);
      return status.state === 'rejected' ? 1 : 0;
    }
    case 'rollback': {
      const { values } = parseCliArgs(rest, remoteOptions, ROLLBACK_USAGE);
      if (values.help) return help(io, 0, ROLLBACK_HELP);
      const status = (await adminRequest(
        await resolveAdmin(values.admin, values.config, values.token),
        'POST',
        '/api/rules/rollback',
        undefined,
        undefined,
        [409],
      )) as { state: string; version?: number; errors?: Array<{ message: string }> };
      writeLine(io.stdout, `${status.state}${status.version !== undefined ? ` version ${status.version}` : ''}`);
      for (const e of status.errors ?? []) writeLine(io.stderr, `  - ${e.message}`);
      return status.state === 'rejected' ? 1 : 0;
    }
    case 'sign':
      return (await import('./rules-sign.js')).runRulesSign(rest, io);
    case 'keygen':
      return (await import('./rules-sign.js')).runRulesKeygen(rest, io);
    case '--help':
    case '-h':
    case undefined:
      return help(io, sub === undefined ? 2 : 0);
    default:
      writeLine(io.stderr, `gatehouse rules: unknown subcommand '${sub}'\n${USAGE}`);
      return 2;
  }
}

function help(io: CliIO, code = 0, text = USAGE): number {
  writeLine(code ? io.stderr : io.stdout, text);
  return code;
}
