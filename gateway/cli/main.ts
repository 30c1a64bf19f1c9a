// `gatehouse` command-line entry: dispatches subcommands. Heavy modules load lazily so that small
// commands (passwd, detect, rules eval) start fast on a Pi.
// First: mqtt-packet must get its debug instances through it (see the module).
import '../broker/quiet-debug.js';
import { closestName } from '../../core/closest-name.js';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import type { CliIO, Command } from './io.js';
import { writeLine } from './io.js';
import { enableBacktrackingFallback } from '../../core/regex-safety.js';

const USAGE = `gatehouse: edge gateway runtime (MQTT broker, serial bridge, AWS IoT SQL rules, durable streams, upstream export)

usage: gatehouse <command> [options]

commands:
  start [--config FILE] [--data-dir DIR] [--mqtt-port N] [--admin-port N] [--log-level LEVEL]   run the gateway
  check-config FILE|--config FILE [--data-dir DIR]   validate a configuration file (and its rule set) without starting
  import-agent-config AGENT.json [--out FILE]   convert a Kinesis Agent configuration into a Gatehouse one
  config-docs                       print every configuration key with its default (Markdown)
  status [--admin URL | --config FILE]    the running gateway in a few lines (or what its start waits for)
  streams [--admin URL | --config FILE]   list local streams and exporters of the running gateway
  streams read NAME [--last N] [--follow]   print the records a local stream holds
  streams dead-letters|redrive|purge ...   list dead letters with their errors, send them again, clear them
  streams drop NAME [--records N]   drop a stream nothing uses any more, with the N records it holds
  jobs [--admin URL | --config FILE]      list scheduled jobs of the running gateway: last run, next run, counts
  sources [--admin URL | --config FILE]   list configured sources of the running gateway: state, summary, last error
  shadow get|update|delete|list [THING] [--name SHADOW]   the running gateway's local Device Shadows (docs/shadows.md)
  diagnose [--config FILE] [--out FILE|DIR]   one file for support: system, board health, config (secrets redacted), status, logs
  passwd [PASSWORD]                 hash a password for broker.users or an http source's auth.users (reads stdin when omitted)
  rules eval|check|list|apply|rollback|sign|keygen ...   evaluate, validate, sign and manage rule sets
  detect [--detector NAME] [--param k=v ...] --input FILE.csv   score a time series with an anomaly detector
  simulate serial|mqtt ...          play a serial device or a fleet of MQTT devices
  opcua browse --endpoint URL [--node ID]   list OPC UA nodes (ids, types, values) to configure an opcua source
  snmp walk [OID] --host HOST | --config FILE --target NAME   list what an SNMP agent answers (OIDs, names, values) to configure an snmp source
  errors [--markdown]               list every error code (--markdown: docs/errors.md)
  --version                         print the version: 0.1.0+<commit>, the commit the build was made from

Run 'gatehouse <command> --help' for a command's options.`;

type Loader = () => Promise<Command>;

const COMMANDS: Record<string, Loader> = {
  start: async () => (await import('./start.js')).runStart,
  'check-config': async () => (await import('./check-config.js')).runCheckConfig,
  'import-agent-config': async () => (await import('./import-agent-config.js')).runImportAgentConfig,
  'config-docs': async () => (await import('./config-docs.js')).runConfigDocs,
  status: async () => (await import('./status.js')).runStatus,
  streams: async () => (await import('./streams.js')).runStreams,
  jobs: async () => (await import('./jobs.js')).runJobs,
  sources: async () => (await import('./sources.js')).runSources,
  shadow: async () => (await import('./shadow.js')).runShadow,
  diagnose: async () => (await import('./diagnose.js')).runDiagnose,
  passwd: async () => (await import('./passwd.js')).runPasswd,
  rules: async () => (await import('./rules.js')).runRules,
  detect: async () => (await import('./detect.js')).runDetect,
  simulate: async () => (await import('./simulate.js')).runSimulate,
  errors: async () => (await import('./errors-cmd.js')).runErrors,
  opcua: async () => (await import('./opcua.js')).runOpcua,
  snmp: async () => (await import('./snmp.js')).runSnmp,
};

export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // First thing, for every command: regular expressions compiled from here on are bounded
  // (core/regex-safety.ts; the rules engine and the file source also turn it on before their first).
  enableBacktrackingFallback();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    writeLine(name === undefined ? io.stderr : io.stdout, USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    writeLine(io.stdout, (await import('./version.js')).VERSION);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    // Named with the command it is nearest to ('stream': streams), as a misspelt option is.
    const guess = closestName(name, Object.keys(COMMANDS));
    writeLine(io.stderr, `gatehouse: unknown command '${name}'${guess ? ` (did you mean ${guess}?)` : ''}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest, io);
  } catch (err) {
    if (err instanceof GatehouseError) {
      writeLine(io.stderr, `gatehouse ${name}: ${err.describe()}`);
      return err.code === 'GH_ARG_INVALID' ? 2 : 1;
    }
    writeLine(io.stderr, `gatehouse ${name}: ${errorMessage(err)}`);
    return 1;
  }
}
