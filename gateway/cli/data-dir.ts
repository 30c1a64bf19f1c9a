// `--data-dir DIR`, as `start` and `check-config` take it: one option, one default, one help text.
// check-config had none, so run on the systemd unit's config (the unit passes --data-dir
// /var/lib/gatehouse to start) it checked and named ./gatehouse-data of the working directory.
// Also what check-config reads of the data directory: only what it can see without writing or
// opening the store (a running gateway holds the store's lock), so it is safe beside a running
// gateway and under another user (install.sh runs it as the unit's user, an operator as root).
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { readConfigFile } from '../config/index.js';
import { GatehouseError } from '../../core/errors.js';

/** The parseArgs option (no default here: the schema's dataDir default applies, resolved against the working directory). */
export const DATA_DIR_OPTION = { 'data-dir': { type: 'string' } } as const;

/** What --data-dir means, word for word in `start --help` and `check-config --help`. */
export const DATA_DIR_HELP = `  --data-dir DIR    the data directory (the store, default file exports, the installation id):
                    it wins over the config file's dataDir; default: the file's dataDir, else
                    ./gatehouse-data of the working directory. The systemd unit passes
                    --data-dir /var/lib/gatehouse.`;

/** The config overrides of a --data-dir value (none when absent). */
export function dataDirOverride(value: string | undefined): { dataDir?: string } {
  return value !== undefined ? { dataDir: value } : {};
}

/**
 * `--data-dir` wins over the file's dataDir. The systemd unit passes `--data-dir /var/lib/gatehouse`,
 * so a dataDir set in the file (data on an SSD rather than the SD card) is not used: the sentence
 * that says so (start logs it, check-config prints it), or undefined when the file names no other.
 */
export async function dataDirOverrideWarning(file: string, dataDir: string): Promise<{ fileDataDir: string; message: string } | undefined> {
  const raw = (await readConfigFile(file).catch(() => undefined)) as { dataDir?: unknown } | undefined;
  if (typeof raw?.dataDir !== 'string') return undefined;
  const fileDataDir = resolve(dirname(resolve(file)), raw.dataDir);
  if (fileDataDir === dataDir) return undefined;
  return {
    fileDataDir,
    message: `--data-dir ${dataDir} wins over dataDir ${fileDataDir} in ${file}: the data is in ${dataDir}. Under the systemd unit (which passes --data-dir /var/lib/gatehouse), move it with 'sudo systemctl edit gatehouse' (ExecStart= with your --data-dir, and ReadWritePaths= for that folder)`,
  };
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

async function kindOf(path: string): Promise<'dir' | 'other' | 'absent'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    // ENOTDIR: a file on the way to it; the caller walks up and finds that file.
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return 'absent';
    throw err;
  }
}

/**
 * What check-config says of the data directory: whether a store is there (a first start makes
 * one: the sign that it was run on another folder than the gateway's), or the problem `start`
 * would refuse it with (GH_CONFIG_INVALID at dataDir, exit 78): a file where the folder or one of
 * its parents should be. A folder the gateway's user may not write is not judged here: the check
 * may run as another user (root from install.sh), and the start says it, naming the user.
 */
export async function dataDirSummary(dir: string): Promise<string> {
  let at = dir;
  for (;;) {
    const kind = await kindOf(at);
    if (kind === 'other') {
      throw new GatehouseError('GH_CONFIG_INVALID', `the data directory ${dir} cannot be made (${at} is a file, not a folder)`, {
        where: 'dataDir',
        hint: `set dataDir (or --data-dir) to a directory the gateway's user may write (under systemd: /var/lib/gatehouse, the unit's ReadWritePaths), or move what is at that path away`,
      });
    }
    if (kind === 'dir') break;
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (at !== dir) return `data in ${dir} (not made yet: the first start makes it, with a new store)`;
  // LevelDB's CURRENT names its manifest: there from a store's first open on.
  return (await kindOf(join(dir, 'store', 'CURRENT'))) === 'other'
    ? `data in ${dir} (holds a store)`
    : `data in ${dir} (no store there yet: the first start makes one)`;
}
