// The gateway's data directory, made at start if missing (runtime/index.ts, before the store
// opens in it). No access for others: it holds stored telemetry, retained messages and sessions,
// as the systemd unit's StateDirectoryMode=0750; an existing directory keeps its mode. A failure
// is said as whose it is to fix: a full or failing disk is the store's (GH_STORE_OPEN, exit 1),
// anything else (a file in the way, no permission, a read-only filesystem) the configuration's
// (GH_CONFIG_INVALID, start exits 78).
import { mkdir } from 'node:fs/promises';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';

/** Make `dir` (and its parents) if missing. */
export async function makeDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOSPC' || code === 'EIO') {
      throw ERRORS.GH_STORE_OPEN(
        { dir, reason: `cannot make the data directory: ${errorMessage(err)}` },
        {
          where: 'dataDir',
          hint: 'free space on that filesystem or check the disk',
          cause: err,
        },
      );
    }
    throw new GatehouseError('GH_CONFIG_INVALID', `the data directory ${dir} cannot be made (${code})`, {
      where: 'dataDir',
      hint: `set dataDir (or --data-dir) to a directory the gateway's user may write (under systemd: /var/lib/gatehouse, the unit's ReadWritePaths), or move what is at that path away`,
      cause: err,
    });
  }
}
