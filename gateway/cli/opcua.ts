// `gatehouse opcua browse --endpoint URL [--node ID]`: list the children of a node (default: the
// Objects folder) with their node ids, classes, data types and current values, so a user can
// find the node ids for an `opcua` source. Loads node-opcua only when run.
import { join, resolve } from 'node:path';
import { GatehouseError } from '../../core/errors.js';
import type { CliIO } from './io.js';
import { parseCliArgs, writeLine } from './io.js';
import { ipv6UrlProblem } from '../../core/bind-host.js';

const USAGE =
  'gatehouse opcua browse --endpoint opc.tcp://HOST:PORT [--node ID] [--security-mode None|Sign|SignAndEncrypt] [--user NAME --password PW] [--data-dir DIR] [--trust-server] [--timeout MS] [--json] [--verbose]';

// What --help prints below the usage line: every other command says what it does and what its
// options mean; this one printed the usage line alone.
const HELP = `Lists the children of an OPC UA node (default the Objects folder, ns=0;i=85): node id, class, and
for a variable its data type and current value, to find the node ids of an opcua source's items.
  --endpoint URL        the server's endpoint URL (required)
  --node ID             the node to list, e.g. 'ns=2;s=Line1' (quoted: ';' ends a shell command)
  --security-mode M     None (default), Sign or SignAndEncrypt (policy Basic256Sha256)
  --user NAME --password PW   log in with a user name (default: anonymous)
  --data-dir DIR        the client certificate and trust list go under DIR/opcua/pki
                        (default ./gatehouse-data, where npm start keeps the gateway's)
  --trust-server        accept a server certificate not in the trust list (else it lands in rejected/)
  --timeout MS          connect and session timeout (default 10000)
  --json                the rows as JSON on stdout
  --verbose             node-opcua's own messages on stderr
Exit codes: 0 listed, 1 no session with the server (the error says why), 2 bad arguments or a node it cannot browse.`;

export async function runOpcua(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    writeLine(sub === undefined ? io.stderr : io.stdout, `usage: ${USAGE}`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'browse') throw new GatehouseError('GH_ARG_INVALID', `unknown opcua subcommand '${sub}'`, { hint: `usage: ${USAGE}` });
  const { values } = parseCliArgs(
    rest,
    {
      endpoint: { type: 'string' },
      node: { type: 'string' },
      'security-mode': { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'data-dir': { type: 'string' },
      'trust-server': { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (values.help) {
    writeLine(io.stdout, `usage: ${USAGE}\n${HELP}`);
    return 0;
  }
  if (!values.endpoint) throw new GatehouseError('GH_ARG_INVALID', '--endpoint opc.tcp://HOST:PORT is required', { hint: `usage: ${USAGE}` });
  if (!/^opc\.tcp:\/\//.test(values.endpoint))
    throw new GatehouseError('GH_ARG_INVALID', `--endpoint '${values.endpoint.slice(0, 80)}' is not an opc.tcp:// URL`, {
      where: '--endpoint',
      hint: "e.g. --endpoint opc.tcp://192.168.1.20:4840 (the server's endpoint URL, as its documentation or UaExpert shows it)",
    });
  const v6 = ipv6UrlProblem(values.endpoint);
  if (v6) throw new GatehouseError('GH_ARG_INVALID', `--endpoint '${values.endpoint.slice(0, 80)}': ${v6}`, { where: '--endpoint', hint: `usage: ${USAGE}` });
  // (a word or 0 was taken as it came: 'connect ... did not finish within NaN ms', exit 1)
  const timeoutMs = Number(values.timeout ?? 10_000);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new GatehouseError('GH_ARG_INVALID', `--timeout must be a whole number of milliseconds, 1 or more, got '${values.timeout}'`, {
      where: '--timeout',
      hint: 'e.g. --timeout 10000 (the default: 10 s)',
    });
  const mode = (values['security-mode'] ?? 'None') as 'None' | 'Sign' | 'SignAndEncrypt';
  if (!['None', 'Sign', 'SignAndEncrypt'].includes(mode))
    throw new GatehouseError('GH_ARG_INVALID', `--security-mode must be None, Sign or SignAndEncrypt, got '${mode}'`);
  const { loadOpcua, openSession, closeQuietly, certificateManager, opcuaLogText } = await import('../pipeline/sources/opcua/connect.js');
  const { valueKindOf, toJson } = await import('../pipeline/sources/opcua/values.js');
  const { ua, certs } = await loadOpcua();
  // node-opcua prints its own diagnostics with console.log ("Creating default certificate ...
  // please wait", its [NODE-OPCUA-W27] RSA advice at every run on Node 20 whatever the security
  // mode, [NODE-OPCUA-W06]...): beside our error they read as more problems, or as the fix. They
  // are the library's debug output, as in the gateway's log (sources/opcua/index.ts): on stderr
  // with --verbose only, never on stdout (--json | jq).
  const libLog = (...args: unknown[]): void => {
    if (values.verbose) io.stderr.write(`gatehouse opcua: node-opcua: ${opcuaLogText(args)}\n`);
  };
  ua.setWarningLogger(libLog);
  ua.setErrorLogger(libLog);
  const nodeId = values.node ?? 'ns=0;i=85';
  try {
    ua.resolveNodeId(nodeId);
  } catch {
    // (it said only "String cannot be coerced to a nodeId : Line1.Speed", after connecting)
    throw new GatehouseError('GH_ARG_INVALID', `--node '${nodeId}' is not an OPC UA node id`, {
      hint: 'write ns=<index>;s=<name> or ns=<index>;i=<number>, e.g. ns=0;i=85 (Objects), or one printed by a previous browse',
    });
  }
  const dataDir = resolve(values['data-dir'] ?? './gatehouse-data');
  const pkiDir = join(dataDir, 'opcua', 'pki');
  const pki = await certificateManager(certs, pkiDir, values['trust-server'] === true);
  const opened = await openSession(ua, pki, {
    endpoint: values.endpoint,
    securityMode: mode,
    securityPolicy: mode === 'None' ? 'None' : 'Basic256Sha256',
    auth: values.user ? { type: 'username', username: values.user, password: values.password ?? '' } : { type: 'anonymous' },
    pkiDir,
    trustUnknownServer: values['trust-server'] === true,
    timeoutMs,
  }).catch(async (err: unknown) => {
    await pki.dispose().catch(() => undefined);
    throw err;
  });
  const { client, session } = opened;
  try {
    const result = await session.browse({
      nodeId,
      browseDirection: ua.BrowseDirection.Forward,
      referenceTypeId: 'HierarchicalReferences',
      includeSubtypes: true,
      resultMask: 63,
    });
    if (result.statusCode.isNotGood())
      throw new GatehouseError('GH_ARG_INVALID', `cannot browse ${nodeId}: ${result.statusCode.name}`, {
        hint: 'give a node id such as ns=0;i=85 (Objects) or one printed by a previous browse',
      });
    const refs = result.references ?? [];
    const rows: { nodeId: string; nodeClass: string; browseName: string; dataType: string | null; value: unknown }[] = [];
    const variables = refs.filter((r) => r.nodeClass === ua.NodeClass.Variable);
    const reads = variables.length
      ? await session.read(
          variables.flatMap((r) => [
            { nodeId: r.nodeId, attributeId: ua.AttributeIds.Value },
            { nodeId: r.nodeId, attributeId: ua.AttributeIds.DataType },
          ]),
        )
      : [];
    for (const r of refs) {
      const i = variables.indexOf(r);
      const value = i >= 0 ? reads[i * 2] : undefined;
      const dt = i >= 0 ? reads[i * 2 + 1]?.value?.value : undefined;
      rows.push({
        nodeId: r.nodeId.toString(),
        nodeClass: ua.NodeClass[r.nodeClass] ?? String(r.nodeClass),
        browseName: r.browseName.toString(),
        dataType: dt ? (ua.DataType[(dt as { value: number }).value] ?? String(dt)) : null,
        // 64-bit integers as numbers (or exact decimal strings), as the source publishes them, not [high, low] words.
        value: value ? (value.statusCode.isGood() ? toJson(value.value.value, valueKindOf(ua, value.value.dataType)) : value.statusCode.name) : null,
      });
    }
    if (values.json) writeLine(io.stdout, JSON.stringify(rows, null, 2));
    else {
      writeLine(io.stdout, `${nodeId} on ${values.endpoint}: ${rows.length} child node(s)`);
      for (const r of rows)
        writeLine(
          io.stdout,
          `  ${r.nodeId.padEnd(28)} ${r.nodeClass.padEnd(13)} ${r.browseName}${r.dataType ? `  ${r.dataType} = ${JSON.stringify(r.value)}` : ''}`,
        );
    }
    return 0;
  } finally {
    await closeQuietly(client, session, 2000);
    await pki.dispose().catch(() => undefined);
  }
}
