// The exit codes of `gatehouse` commands (README "Exit codes" is their one table). `start` tells
// apart a failure a restart may cure (a port still held, a disk that is not mounted yet: exit 1,
// systemd restarts the unit) from one it cannot (the configuration, or what it names, is wrong:
// exit 78, EX_CONFIG of sysexits.h; the unit's RestartPreventExitStatus leaves it failed with the
// reason in the journal instead of restarting it every few seconds for ever), and a damaged store
// that LevelDB's repair could not open (exit 65, EX_DATAERR: not restarted either).
import { GatehouseError, type ErrorCode } from '../../core/errors.js';

export const EXIT_OK = 0;
/** Any other failure; for `start`, one a restart may cure. */
export const EXIT_FAILURE = 1;
/** A missing or malformed argument (GH_ARG_INVALID): the usage is printed. */
export const EXIT_USAGE = 2;
/** `start`: a restart cannot fix it (sysexits.h EX_CONFIG; systemd shows "status=78/CONFIG"). */
export const EXIT_CONFIG = 78;
/** `start`: the store is damaged and its repair failed (sysexits.h EX_DATAERR; systemd shows "status=65/DATAERR"). */
export const EXIT_DATA = 65;

/**
 * Codes that, at start, come from the configuration or the files and packages it names: starting
 * again with the same files fails the same way. Not here: a listener's port in use or an address
 * not there yet (GH_BROKER_LISTEN, GH_ADMIN_LISTEN, but for a port below 1024: restartCannotFix), a store locked by another process
 * (GH_STORE_OPEN but for permissions and format), a full disk (waited for): those may pass by themselves.
 */
const CONFIG_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'GH_CONFIG_INVALID',
  'GH_CONFIG_READ',
  'GH_CONFIG_INSECURE',
  'GH_PACKAGE_MISSING',
  'GH_BROKER_TLS',
  'GH_ADMIN_TLS',
  'GH_DESTINATION_CONFIG',
  'GH_RULESET_INVALID',
  'GH_RULESET_SIGNATURE',
  'GH_SQL_SYNTAX',
  'GH_SQL_SEMANTIC',
  'GH_TEMPLATE_INVALID',
  'GH_DETECTOR_PARAM',
]);

/**
 * The exit code of a failed `start` that starting again cannot fix: EXIT_DATA for a damaged store
 * its repair could not open (GH_STORE_DAMAGED), EXIT_CONFIG for restartCannotFix; else undefined
 * (exit 1, restarted).
 */
export function cannotFixExitCode(err: unknown): number | undefined {
  if (err instanceof GatehouseError && err.code === 'GH_STORE_DAMAGED') return EXIT_DATA;
  return restartCannotFix(err) ? EXIT_CONFIG : undefined;
}

/** True for an error of `start` that starting again cannot fix (exit EXIT_CONFIG). */
export function restartCannotFix(err: unknown): boolean {
  if (!(err instanceof GatehouseError)) return false;
  if (CONFIG_CODES.has(err.code)) return true;
  // A data directory written by a gatehouse whose store format this one does not read, or one
  // the gateway's user may not write (store/database.ts).
  const details = err.details as { storeFormat?: unknown; permission?: unknown } | undefined;
  if (err.code === 'GH_STORE_OPEN' && (typeof details?.storeFormat === 'number' || details?.permission === true)) return true;
  // A port below 1024 without CAP_NET_BIND_SERVICE (EACCES): the unit has no capabilities, and
  // restarting it every 5 s for ever (exit 1) never binds it.
  return (err.code === 'GH_BROKER_LISTEN' || err.code === 'GH_ADMIN_LISTEN') && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EACCES';
}
