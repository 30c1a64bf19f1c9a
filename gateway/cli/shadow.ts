// `gatehouse shadow get|update|delete|list`: the running gateway's local Device Shadows over the
// admin API (/api/shadows, admin/shadow-route.ts; docs/shadows.md). An update from here is
// answered and published (accepted, delta, documents) as one a device sends over MQTT.
import { readFile } from 'node:fs/promises';
import { GatehouseError } from '../../core/errors.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminRequest, resolveAdmin } from './admin-client.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

const ADMIN = '[--admin URL | --config FILE] [--token T]';
const NAME_HELP = '  --name SHADOW    a named shadow ($aws/things/THING/shadow/name/SHADOW/...); without: the classic one';

/** Each subcommand's usage line and what it does. */
const VERBS: Record<string, { usage: string; help: string }> = {
  get: {
    usage: `gatehouse shadow get THING [--name SHADOW] ${ADMIN}`,
    help: 'Prints the document as get/accepted has it: state (desired, reported, delta), metadata, version, timestamp.',
  },
  update: {
    usage: `gatehouse shadow update THING DOCUMENT|--file FILE [--name SHADOW] ${ADMIN}`,
    help: `Applies an update request document, e.g. '{"state":{"desired":{"color":"red"}}}' (or --file FILE, - for stdin),
and prints update/accepted; the delta and documents go to the devices as for an update over MQTT.
  --file FILE      read the document from FILE (- for stdin)`,
  },
  delete: {
    usage: `gatehouse shadow delete THING [--name SHADOW] ${ADMIN}`,
    help: 'Deletes the shadow and prints delete/accepted (a new document within 48 hours continues its version).',
  },
  list: {
    usage: `gatehouse shadow list ${ADMIN} [--json]`,
    help: `Lists every shadow: thing, name, version, last update, state size.
${JSON_FLAG_HELP}`,
  },
};

const USAGE = Object.values(VERBS)
  .map((v) => v.usage)
  .join('\n       ');

const HELP = `usage: ${USAGE}
The gateway's local Device Shadows (AWS IoT's shadow topics on its broker, docs/shadows.md), over its admin API.
${NAME_HELP}
  --file FILE      (update) read the document from FILE (- for stdin)
${ADMIN_FLAGS_HELP}
${JSON_FLAG_HELP}`;

interface Summary {
  thing: string;
  name?: string;
  version: number;
  timestamp: number;
  stateBytes: number;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function runShadow(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { ...ADMIN_COMMAND_OPTIONS, name: { type: 'string' }, file: { type: 'string' } }, USAGE, true);
  const v = values as { help?: boolean; admin?: string; config?: string; token?: string; json?: boolean; name?: string; file?: string };
  const [verb, thing, doc, ...extra] = positionals;
  if (v.help) {
    const one = verb === undefined ? undefined : VERBS[verb];
    writeLine(io.stdout, one ? `usage: ${one.usage}\n${one.help}\n${verb === 'list' ? '' : `${NAME_HELP}\n`}${ADMIN_FLAGS_HELP}` : HELP);
    return 0;
  }
  const bad = (why: string): GatehouseError => new GatehouseError('GH_ARG_INVALID', why, { hint: `usage: ${USAGE}` });
  if (verb === 'list') {
    if (positionals.length !== 1) throw bad('shadow list takes no THING');
  } else if (verb === 'get' || verb === 'delete') {
    if (thing === undefined || positionals.length !== 2) throw bad(`shadow ${verb} takes one THING`);
  } else if (verb === 'update') {
    if (thing === undefined || extra.length > 0 || (doc === undefined) === (v.file === undefined))
      throw bad('shadow update takes one THING and the update document: as an argument or --file FILE (- for stdin)');
  } else {
    throw bad(verb === undefined ? 'expected get, update, delete or list' : `unknown shadow command '${verb}': expected get, update, delete or list`);
  }
  const target = await resolveAdmin(v.admin, v.config, v.token);
  if (verb === 'list') {
    const r = (await adminRequest(target, 'GET', '/api/shadows')) as { shadows: Summary[] };
    if (v.json) writeLine(io.stdout, JSON.stringify(r, null, 2));
    else if (r.shadows.length === 0) writeLine(io.stdout, 'no shadows');
    else
      for (const s of r.shadows)
        writeLine(
          io.stdout,
          `${s.thing}${s.name ? ` (name ${s.name})` : ' (classic)'}: version ${s.version}, updated ${new Date(s.timestamp * 1000).toISOString()}, state ${s.stateBytes} bytes`,
        );
    return 0;
  }
  const path = `/api/shadows/${encodeURIComponent(thing as string)}${v.name === undefined ? '' : `?name=${encodeURIComponent(v.name)}`}`;
  let body: Buffer | undefined;
  if (verb === 'update') body = doc !== undefined ? Buffer.from(doc) : v.file === '-' ? await readStdin() : await readFile(v.file as string);
  const method = verb === 'get' ? 'GET' : verb === 'delete' ? 'DELETE' : 'POST';
  const r = await adminRequest(target, method, path, body, body ? 'application/json' : undefined);
  // the answer is the shadow service's document (get/accepted, update/accepted, delete/accepted): printed as JSON
  writeLine(io.stdout, JSON.stringify(r, null, 2));
  return 0;
}
