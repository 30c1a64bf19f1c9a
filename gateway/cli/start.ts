// `gatehouse start`: run the gateway until SIGINT/SIGTERM, then stop gracefully; SIGHUP reloads.
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type GatehouseConfig } from '../config/index.js';
import { checkConfigFiles } from '../config/checks.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { startGateway, type Gateway } from '../runtime/index.js';
import { reloadConfig, rulesJsonOf } from '../runtime/reload.js';
import { applyProcessMemorySettings, processMemory, smallMemoryWarning } from '../runtime/process-memory.js';
import { startProcessIdleMemoryRelease } from '../runtime/idle-memory.js';
import { processNotifier, type ServiceNotifier } from '../runtime/service-notify.js';
import { openingStatus, runningStatus, waitingStatus } from '../runtime/service-status.js';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import { parseCliArgs, portArg, writeLine, type CliIO } from './io.js';
import { VERSION } from './version.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, dataDirOverride, dataDirOverrideWarning } from './data-dir.js';
import { safeLogDestination } from './log-destination.js';
import { ramDataDirWarning } from './data-dir-ram.js';
import { EXIT_DATA, cannotFixExitCode } from './exit-codes.js';

/** pino's levels, as log.level takes them (config/schema.ts). */
const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const USAGE = 'gatehouse start [--config FILE] [--data-dir DIR] [--mqtt-port N] [--admin-port N] [--log-level LEVEL]';
const HELP = `usage: ${USAGE}

Runs the gateway: MQTT broker (default 127.0.0.1:1883), admin API (default 127.0.0.1:9883),
data under ./gatehouse-data. Flags override the config file: --data-dir its dataDir, --mqtt-port
the port of its first listener (broker.listeners[0]; the others keep theirs), --admin-port
admin.port, --log-level log.level (fatal, error, warn, info, debug, trace, silent); port 0 picks
a free port, named in the log. With no config file, every publish is archived to the local
stream 'archive' and exported to NDJSON files.
${DATA_DIR_HELP}
SIGINT/SIGTERM stop it gracefully (stop accepting, flush commits, close the store); a second
signal ends the process at once, by that signal (a shell shows 130 for SIGINT, 143 for SIGTERM).
A store that cannot open because the disk is full (LevelDB replays its log when it opens) is
waited for: free space is checked every 5 s and the start goes on once there is room; /healthz
answers 503 with the reason meanwhile, and SIGINT/SIGTERM stop it at once (exit 0).
SIGHUP (systemctl reload gatehouse) reloads the TLS listeners' certificate files (renewed
certificates are served to new connections), reads the expiry of the certificates the upstream
connections present or trust again (a renewed one's warning goes) and reads the config file again: the lookup
tables' files are read again (one that does not load keeps its old rows), a changed rule set is applied
(or refused, the running one kept); other changed settings are named in a warning and take
effect at the next restart. An invalid file is logged and changes nothing. A SIGHUP during
the start is held: the reload runs once the start completes.
Under systemd (NOTIFY_SOCKET set, the unit's Type=notify) it says READY=1 once the store is open
and the broker listens, STATUS= lines of what the start waits for, RELOADING=1 during a SIGHUP
reload, STOPPING=1 at the stop, and pings the watchdog (WATCHDOG_USEC, WatchdogSec=) while its
event loop turns, each through the systemd-notify binary. Without NOTIFY_SOCKET it runs nothing.
Exit codes: 0 stopped; 1 failed in a way a restart may cure (a port in use, a store locked);
2 bad arguments; 78 the configuration, or a file it names, is wrong, or the data directory was
written by a newer version: starting again cannot help (systemd does not restart the unit).`;

/**
 * Node 20 reached its end of life in April 2026 and AWS SDK releases after January 2027 need 22:
 * say so once, as one log line, instead of the SDK's multi-line stderr warning at the first
 * AWS exporter (which AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED turns off; a user who set
 * that variable keeps their choice).
 */
function warnOldNode(logger: pino.Logger): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  logger.warn(
    { node: process.versions.node, recommended: '22 or 24' },
    'Node.js 20 is past its end of life (April 2026): Gatehouse runs on it, but upgrade to Node 22 or 24 LTS',
  );
}

/**
 * bin/gatehouse.js passes --max-semi-space-size=8 and MALLOC_MMAP_THRESHOLD_ through its #! line,
 * `npm start` and the systemd unit on their command lines or environment; `node bin/gatehouse.js
 * start` runs without them, and neither can be set once the process runs (V8 sizes its young
 * generation and glibc reads its malloc settings at the start). Say so once.
 */
function noteProcessSettings(logger: pino.Logger): void {
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  const missing: string[] = [];
  // the young generation then grows to 2 x 16 MiB under load (peak RSS ~20 MiB higher; docs/benchmarks.md)
  if (!/--max-semi-space-size/.test(flags)) missing.push('--max-semi-space-size=8');
  // each password check's 16 MiB then stays with the thread that ran it (docs/security.md, "Memory")
  if (process.env.MALLOC_MMAP_THRESHOLD_ === undefined) missing.push('MALLOC_MMAP_THRESHOLD_=131072');
  if (missing.length === 0) return;
  logger.info(
    { missing },
    `node runs without ${missing.join(' and ')}: memory use is higher; start with \`npm start\`, the systemd unit or ./bin/gatehouse.js (they pass them)`,
  );
}

/**
 * SIGHUP: read the config file again and apply what a running gateway can take (reload.ts).
 * Reloads run one at a time; a signal during one runs another after it.
 */
function onReload(
  gateway: Gateway,
  started: GatehouseConfig,
  readConfig: () => Promise<GatehouseConfig>,
  logger: pino.Logger,
  notify: ServiceNotifier,
): () => void {
  let current = started;
  let rulesJson: Promise<string> = rulesJsonOf(started).catch(() => '');
  let queue: Promise<void> = Promise.resolve();
  const once = async (): Promise<void> => {
    // TLS files first, whatever the config file holds: a certificate renewal agent runs
    // `systemctl reload gatehouse` after writing them (tls-reload.ts logs each swap or refusal).
    try {
      await gateway.broker.reloadTls();
      await gateway.admin?.reloadTls();
      await gateway.sources.reloadTls((err, s) =>
        logger.error({ source: s.name, err }, 'reload: TLS certificates of a source could not be reloaded; the running ones are kept'),
      );
      // The upstream connections' certificates: a renewed one's date read, its warning gone (upstream/cert-watch.ts).
      await gateway.certs.check();
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'reload: TLS certificates could not be reloaded; the running ones are kept');
    }
    let next: GatehouseConfig;
    try {
      next = await readConfig();
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'reload: the config file is not valid; nothing changed');
      return;
    }
    try {
      const outcome = await reloadConfig(gateway.rules, current, await rulesJson, next, gateway.control.verifier, gateway.tables);
      // Keys that did not load are tried again at the next reload (the running ones stay).
      const kept = current.control;
      current =
        outcome.keys && 'error' in outcome.keys
          ? {
              ...next,
              control: { ...next.control, publicKeys: kept.publicKeys, allowUnsigned: kept.allowUnsigned, requireSignedAdmin: kept.requireSignedAdmin },
            }
          : next;
      rulesJson = Promise.resolve(outcome.rulesJson);
      if (outcome.keys && 'error' in outcome.keys) {
        logger.error({ err: outcome.keys.error }, 'reload: the signature keys (control.publicKeys) were refused; the running ones are kept');
      } else if (outcome.keys) {
        logger.info(
          { publicKeys: outcome.keys.publicKeys },
          'reload: signature policy of rule set updates taken (control.publicKeys, allowUnsigned, requireSignedAdmin)',
        );
      }
      if (outcome.restartNeeded.length > 0) {
        logger.warn({ settings: outcome.restartNeeded, changed: outcome.changed }, 'reload: these settings changed and take effect at the next restart');
      }
      // (each table that did not load was logged by the tables, with its error)
      if (outcome.tables) {
        const t = outcome.tables;
        logger.info({ loaded: t.loaded, failed: t.failed.map((f) => f.table) }, 'reload: lookup tables read again');
        if (t.removed.length) logger.warn({ tables: t.removed }, 'reload: these lookup tables are no longer configured; they are kept until the next restart');
      }
      const r = outcome.rules;
      if (r === undefined) logger.info('reload: the rule set did not change');
      else if (r.state === 'rejected') logger.error({ errors: r.errors, version: r.version }, 'reload: the rule set was refused; the running one is kept');
      else logger.info({ state: r.state, version: r.version }, 'reload: rule set');
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'reload failed; nothing changed');
    }
  };
  return () => {
    logger.info('SIGHUP: reloading the configuration');
    // systemd: RELOADING=1, then READY=1 once done (`systemctl reload` shows the unit reloading meanwhile).
    queue = queue.then(async () => {
      notify.reloading('reloading the configuration (SIGHUP)');
      await once();
      notify.ready(runningStatus(gateway));
    });
  };
}

/** Said once at start: the data is not where the file says (data-dir.ts). */
async function warnDataDirOverride(logger: pino.Logger, file: string, dataDir: string): Promise<void> {
  const w = await dataDirOverrideWarning(file, dataDir);
  if (w) logger.warn({ dataDir, fileDataDir: w.fileDataDir }, w.message);
}

export async function runStart(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(
    argv,
    {
      config: { type: 'string', short: 'c' },
      ...DATA_DIR_OPTION,
      'mqtt-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (values.help) {
    writeLine(io.stdout, HELP);
    return 0;
  }
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    throw new GatehouseError('GH_ARG_INVALID', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`, { hint: 'e.g. --log-level debug' });
  }
  const overrides = {
    ...dataDirOverride(values['data-dir']),
    ...(values['mqtt-port'] !== undefined ? { mqttPort: portArg(values['mqtt-port'], '--mqtt-port') } : {}),
    ...(values['admin-port'] !== undefined ? { adminPort: portArg(values['admin-port'], '--admin-port') } : {}),
  };
  const readConfig = async (): Promise<GatehouseConfig> => {
    const c = await loadConfig(values.config, overrides);
    checkConfigFiles(c);
    return c;
  };
  let config: GatehouseConfig;
  try {
    config = await readConfig();
  } catch (err) {
    return cannotStart(err, io);
  }
  const logDestination = safeLogDestination();
  const logger = pino({ level: logLevel ?? config.log.level, base: { gw: config.gatewayId } }, logDestination.stream);
  warnOldNode(logger);
  noteProcessSettings(logger);
  if (values['data-dir'] !== undefined && values.config !== undefined) await warnDataDirOverride(logger, values.config, config.dataDir);
  const inRam = ramDataDirWarning(config.dataDir);
  if (inRam) logger.warn({ dataDir: config.dataDir, code: 'GH_STORE_IN_RAM' }, inRam);
  const registry = createMetricsRegistry(VERSION, config.gatewayId);
  logDestination.registerMetrics(registry);
  // systemd (Type=notify, WatchdogSec=): nothing at all without NOTIFY_SOCKET (service-notify.ts).
  const notify = processNotifier(logger.child({ c: 'systemd' }), registry);
  // Signal listeners from before start, one per signal for the whole life: without a listener a
  // signal takes its default action and ends the process on the spot (no graceful stop; for
  // SIGHUP an exit systemd counts as clean, so Restart=on-failure would leave the gateway down),
  // and removing a signal's last listener restores that default. A stop signal during start
  // (systemd stopping a unit still starting) is held and honoured once started; so is a reload:
  // the config file was read before the start, and a file edited (or a certificate renewed, its
  // agent running `systemctl reload`) while the start ran was not read again until the next reload.
  const early: string[] = [];
  // A start waiting for disk space to open the store (it may wait for hours) stops at once on
  // the first signal: the abort ends the wait, nothing is open yet.
  const abort = new AbortController();
  let waitingForDisk = false;
  let onStop = (signal: string): void => {
    early.push(signal);
    // A start that does not finish (a data disk that stopped answering) must still be stoppable
    // from the terminal: a second signal exits at once, as after the start.
    if (early.length === 1) {
      notify.stopping(`stopping (${signal} while starting)`);
      if (waitingForDisk) logger.info({ signal }, 'stop requested while waiting for disk space to open the store: stopping');
      else logger.info({ signal }, 'stop requested while starting: the gateway stops once its start completes (a second signal exits at once)');
      abort.abort(new Error(`${signal} while starting`));
    } else {
      logger.warn({ signal }, 'second signal while starting: exiting without waiting');
      endBySignal(signal);
    }
  };
  let reloadAfterStart = false;
  let onHup = (): void => {
    if (!reloadAfterStart) logger.info('SIGHUP during start: the configuration is reloaded once the start completes');
    reloadAfterStart = true;
  };
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGHUP', () => onHup());
  let gateway: Gateway;
  const memory = await applyProcessMemorySettings();
  // What a small machine's user checks first (a MemoryMax= that took effect, V8's heap limit beside it)
  const available = processMemory();
  logger.info({ ...available, ...memory }, `memory: ${available.memoryMiB} MiB (${available.memoryFrom}), V8 heap limit ${available.heapLimitMiB} MiB`);
  const small = smallMemoryWarning(available);
  if (small) logger.warn(available, small);
  notify.status(openingStatus(join(config.dataDir, 'store')));
  try {
    gateway = await startGateway(config, {
      logger,
      registry,
      version: VERSION,
      signal: abort.signal,
      onStoreWait: (waiting) => {
        waitingForDisk = waiting;
      },
      // STATUS= and the start timeout extended while the store waits for space (hours, maybe).
      onStoreWaitUpdate: (w, storePath) => {
        if (abort.signal.aborted) return;
        if (w) notify.waiting(waitingStatus(w, storePath));
        else notify.waiting(undefined);
      },
    });
  } catch (err) {
    notify.close();
    if (abort.signal.aborted && err === abort.signal.reason) {
      logger.info({ signal: early[0] }, 'stopped while waiting for disk space to open the store (nothing was started)');
      return 0;
    }
    return cannotStart(err, io);
  }

  // The store is open and the broker listens: `systemctl start` returns, units After= it start.
  if (early.length === 0) notify.ready(runningStatus(gateway));
  // The young generation the start (or later a burst of traffic) grew is given back once the gateway is idle.
  const idleMemory = startProcessIdleMemoryRelease(logger);
  return await new Promise<number>((resolve) => {
    let signals = 0;
    let stopping = false;
    let exitCode = 0;
    const shutdown = (reason: string, code: number): void => {
      exitCode = Math.max(exitCode, code);
      // An uncaught exception while the stop runs (the same bug again, or one the stop meets) is
      // not a second signal: the stop goes on and the exit says 1. Ended by SIGINT instead, as a
      // second signal ends it, systemd's Restart=on-failure took the exit for a clean one (SIGINT
      // is among its clean signals) and left the gateway down.
      if (stopping && reason === UNCAUGHT) return;
      signals++;
      if (signals > 1) {
        logger.warn('second signal: exiting without waiting');
        endBySignal(reason);
      }
      stopping = true;
      logger.info({ reason }, 'shutting down');
      notify.stopping(`stopping (${reason}): closing listeners, flushing commits, closing the store`);
      idleMemory.stop();
      // A stop nobody asked for has no systemd TimeoutStopSec behind it: bounded here, or a stop
      // that hangs after a bug would leave a gateway that neither works nor exits to be restarted.
      const watchdog = reason === UNCAUGHT ? selfStopWatchdog(config.shutdownTimeoutMs + SELF_STOP_EXTRA_MS, logger) : undefined;
      gateway.stop().then(
        () => {
          clearTimeout(watchdog);
          notify.close();
          resolve(exitCode);
        },
        (err: unknown) => {
          clearTimeout(watchdog);
          notify.close();
          logger.error({ err: errorMessage(err) }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    onStop = (signal) => shutdown(signal, 0);
    if (early.length > 0) shutdown(early[0] as string, 0);
    onHup = onReload(gateway, config, readConfig, logger, notify);
    if (reloadAfterStart && early.length === 0) onHup();
    // A bug must not lose acknowledged data: it is already committed. Log, stop cleanly, exit non-zero
    // so systemd restarts us.
    process.on('uncaughtException', (err) => {
      logger.fatal({ err }, stopping ? 'uncaught exception during the stop: the stop goes on, then exits 1' : 'uncaught exception');
      shutdown(UNCAUGHT, 1);
    });
    process.on('unhandledRejection', (err) => {
      logger.error({ err: errorMessage(err) }, 'unhandled promise rejection (a bug: please report it)');
    });
  });
}

/** The shutdown reason of an uncaught exception (not a signal). */
const UNCAUGHT = 'uncaughtException';
/** A stop after an uncaught exception may take shutdownTimeoutMs and this much more (with the default 20 s, systemd's TimeoutStopSec of 30). */
const SELF_STOP_EXTRA_MS = 10_000;

/**
 * End the process by SIGKILL if the stop after an uncaught exception has not ended within `ms`:
 * systemd counts SIGKILL as a failure and restarts the unit (Restart=on-failure). Not
 * process.exit: it can hang for good on a thread-pool thread stuck in a filesystem call (endBySignal).
 */
function selfStopWatchdog(ms: number, logger: pino.Logger): NodeJS.Timeout {
  // Not unref'd: a stop stuck on a promise nothing settles leaves no other handle, and the process
  // would then end by itself with a code that says nothing of the bug.
  return setTimeout(() => {
    logger.fatal({ afterMs: ms }, 'the stop after an uncaught exception did not end: killing the process (SIGKILL) so that systemd restarts it');
    process.kill(process.pid, 'SIGKILL');
  }, ms);
}

/**
 * A start that failed: an error a restart cannot fix (the configuration, a file it names, a data
 * directory of a newer version; a damaged store its repair could not open: EXIT_DATA) is told on
 * stderr and ends with EXIT_CONFIG or EXIT_DATA, which the systemd
 * unit does not restart (RestartPreventExitStatus); any other is thrown (exit 1: restarted).
 */
function cannotStart(err: unknown, io: CliIO): number {
  const code = cannotFixExitCode(err);
  if (code === undefined) throw err;
  writeLine(io.stderr, `gatehouse start: ${errorMessage(err)}`);
  const what = code === EXIT_DATA ? 'damaged data' : 'configuration error';
  writeLine(io.stderr, `gatehouse start: exit ${code} (${what}): starting again cannot fix this; fix it, then start again`);
  return code;
}

/**
 * End the process at once by `signal` itself (a second stop signal). Not process.exit: it joins
 * libuv's thread pool first and hangs for good while a pool thread is stuck in a filesystem call
 * (a FIFO, a disk that stopped answering: the very start a second signal must end). With its
 * listeners removed the signal takes its default action; SIGKILL if that did not end it.
 */
function endBySignal(signal: string): never {
  const sig = signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: the process ended by a signal');
}
