// A private PostgreSQL server for a test file (Debian package `postgresql`): initdb into a temp dir,
// `postgres` on 127.0.0.1 and a restartable port (ports.ts), password logins (scram-sha-256) for
// the superuser `gatehouse`, TLS on with a certificate the test gives (plain connections still
// taken). initdb and postgres refuse to run as root: as root (CI), they run as the user `postgres`
// the package creates, which owns the temp dir. down()/up() stop (fast shutdown) and start it again
// on the same port with its data (down('immediate'): as pg_ctl stop -m immediate); stopped and removed in after().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg, { type Client as PgClient } from 'pg';
import { removeTempDir, waitUntil, which } from './index.js';
import { bindable, onRestartablePort } from './ports.js';

export const PG_PASSWORD = 'gatehouse-test-password';
export const PG_USER = 'gatehouse';

/** A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (newest first). */
export function pgBinary(name: string): string | undefined {
  const onPath = which(name);
  if (onPath) return onPath;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const p = join(root, v, 'bin', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Skip message when the server is not installed (the package puts initdb and postgres off PATH). */
export function needPostgres(): string | undefined {
  return pgBinary('initdb') && pgBinary('postgres')
    ? undefined
    : "needs PostgreSQL's initdb and postgres: install the Debian package 'postgresql' (apt-get install postgresql)";
}

export interface PgServer {
  port: number;
  /** A client as the superuser into `database` (default postgres), connected. */
  client(database?: string): Promise<PgClient>;
  /** Run one statement as the superuser. */
  query<R = Record<string, unknown>>(sql: string, values?: unknown[], database?: string): Promise<R[]>;
  /** Stop the server: fast shutdown (default, pg_ctl stop -m fast: SIGINT) or immediate (-m immediate: SIGQUIT, crash recovery at the next start). */
  down(how?: 'fast' | 'immediate'): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** The uid and gid to run the server as: ourselves, or the `postgres` user when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
  return { uid: Number(line), gid: Number(gid) };
}

/** A server with `tls` (PEM files, copied so the server's user owns them) for ssl=on. */
export async function startPostgres(t: TestContext, tls: { cert: string; key: string }): Promise<PgServer> {
  const initdb = pgBinary('initdb')!;
  const postgres = pgBinary('postgres')!;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  copyFileSync(tls.cert, join(dir, 'server.crt'));
  copyFileSync(tls.key, join(dir, 'server.key'));
  chmodSync(join(dir, 'server.key'), 0o600);
  const as = runAs();
  if (as) for (const p of [dir, sock, pwfile, join(dir, 'server.crt'), join(dir, 'server.key')]) chownSync(p, as.uid, as.gid);
  execFileSync(initdb, ['-D', data, '-U', PG_USER, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(as ?? {}),
    env: { ...process.env, ...(as ? { HOME: dir, USER: 'postgres' } : { USER: userInfo().username }) },
  });
  let port = 0;
  let child: ChildProcess | undefined;
  let stderr = '';
  const boot = async (): Promise<void> => {
    if (!(await bindable(port))) throw new Error(`postgres cannot listen on ${port}: address already in use`);
    stderr = '';
    const args = ['-D', data, '-k', sock, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'ssl=on'];
    args.push('-c', `ssl_cert_file=${join(dir, 'server.crt')}`, '-c', `ssl_key_file=${join(dir, 'server.key')}`);
    const c = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(as ?? {}) });
    child = c;
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 8000) stderr += d;
    });
    let gone = false;
    c.once('close', () => {
      gone = true;
    });
    // Listening is not ready (57P03 while it starts): ready when a login works.
    await waitUntil(
      async () => {
        if (gone) return true;
        const cl = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database: 'postgres' });
        try {
          await cl.connect();
          await cl.end();
          return true;
        } catch {
          await cl.end().catch(() => undefined);
          return false;
        }
      },
      `postgres taking logins on ${port}`,
      20_000,
      50,
    );
    if (gone) throw new Error(`postgres exited with ${c.exitCode}: ${stderr}`);
  };
  const halt = async (how: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    // SIGINT: fast shutdown (sessions ended, data flushed); SIGQUIT: immediate (no checkpoint, the WAL replayed at the next start).
    c.kill(how === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  t.after(async () => {
    await halt('fast');
    await removeTempDir(dir);
  });
  await onRestartablePort(t, async (p) => {
    port = p;
    await boot();
  });
  const client = async (database = 'postgres'): Promise<PgClient> => {
    const cl = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database });
    await cl.connect();
    return cl;
  };
  return {
    port,
    client,
    async query<R>(sql: string, values: unknown[] = [], database = 'postgres'): Promise<R[]> {
      const cl = await client(database);
      try {
        return (await cl.query<R>(sql, values)).rows;
      } finally {
        await cl.end();
      }
    },
    down: (how) => halt(how),
    async up() {
      if (!child) await boot();
    },
    stop: () => halt('fast'),
  };
}
