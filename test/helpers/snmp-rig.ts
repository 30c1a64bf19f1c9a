// SNMP test parts: a real agent (Debian snmpd, net-snmp's, in the foreground with a temp config:
// community `public`, a v3 authPriv user, an `extend` of 3000 lines for a big table, a `pass`
// script whose Counter32 the test changes between polls), the real senders (snmptrap and
// snmpinform of the Debian package `snmp`), and an snmp source over a REAL store (the held intake
// of http-post.ts: records each message, can hold or refuse submits).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import type { RuntimeDeps } from '../../core/deps.js';
import { snmpSourceKind } from '../../gateway/pipeline/sources/snmp/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { heldIntake, type HeldIntake } from './http-post.js';
import { readAll } from './store-intake.js';
import { freePort, needBinary, tempDir, waitUntil } from './index.js';

const run = promisify(execFile);

/** Skip message when snmpd or the snmp tools are missing. */
export const snmpSkip = needBinary('snmpd', 'snmpd') ?? needBinary('snmptrap', 'snmp');

export const V3 = { user: 'ghuser', auth: 'authpass123', priv: 'privpass123' };
export const PASS_OID = '1.3.6.1.4.1.99999.1.0';
/** The extend's output lines (NET-SNMP-EXTEND-MIB nsExtendOutLine."lines"): 3000 rows. */
export const EXTEND_LINES = '1.3.6.1.4.1.8072.1.3.2.4.1.2.5.108.105.110.101.115';

/** The tools' environment: no MIB files loaded (the Debian MIBs are not installed; numeric OIDs only). */
const ENV = { ...process.env, MIBS: '', MIBDIRS: '/nonexistent' };

export interface Agent {
  port: number;
  dir: string;
  /** Set sysContact.0 (snmpset with the rwcommunity). */
  setContact(text: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function snmpd(t: TestContext): Promise<Agent> {
  const dir = await tempDir(t, 'gatehouse-snmpd-');
  const port = await freePort(t);
  const valueFile = join(dir, 'value');
  await writeFile(valueFile, '42\n');
  await writeFile(
    join(dir, 'pass.sh'),
    [
      '#!/bin/sh',
      `if [ "$1" = "-g" ] && [ "$2" = ".${PASS_OID}" ]; then echo .${PASS_OID}; echo counter; cat ${valueFile}; fi`,
      `if [ "$1" = "-n" ]; then case "$2" in .1.3.6.1.4.1.99999|.1.3.6.1.4.1.99999.1) echo .${PASS_OID}; echo counter; cat ${valueFile};; esac; fi`,
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'snmpd.conf'),
    [
      'rocommunity public 127.0.0.1',
      // sysContact.0 is set by the test (snmpset): snmpd caches pass and extend output for a while
      'rwcommunity private 127.0.0.1',
      `createUser ${V3.user} SHA "${V3.auth}" AES "${V3.priv}"`,
      `rouser ${V3.user} priv`,
      'extend lines /bin/sh -c "seq 1 3000"',
      `pass .1.3.6.1.4.1.99999 /bin/sh ${join(dir, 'pass.sh')}`,
      'sysName gatehouse-test',
      'sysLocation cabinet-3',
      '',
    ].join('\n'),
  );
  let proc: ChildProcess | undefined;
  const agent: Agent = {
    port,
    dir,
    async setContact(text) {
      await run('snmpset', ['-v2c', '-c', 'private', `127.0.0.1:${port}`, '1.3.6.1.2.1.1.4.0', 's', text], { env: ENV, timeout: 10_000 });
    },
    async start() {
      proc = spawn('snmpd', ['-f', '-Lo', '-C', '-c', join(dir, 'snmpd.conf'), '-p', join(dir, 'snmpd.pid'), `udp:127.0.0.1:${port}`], {
        stdio: 'ignore',
        env: { ...ENV, SNMP_PERSISTENT_DIR: join(dir, 'persist') },
      });
      t.diagnostic(`snmpd pid ${proc.pid} on udp ${port}`);
      const p = proc;
      await waitUntil(
        async () => {
          if (p.exitCode !== null) throw new Error(`snmpd exited with ${p.exitCode}`);
          return run('snmpget', ['-v2c', '-c', 'public', '-t', '0.3', '-r', '0', `127.0.0.1:${port}`, '1.3.6.1.2.1.1.5.0'], { env: ENV }).then(
            () => true,
            () => false,
          );
        },
        'snmpd answering',
        10_000,
        50,
      );
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      p.kill('SIGTERM');
      await once(p, 'exit');
    },
  };
  t.after(() => agent.stop());
  await agent.start();
  return agent;
}

/** snmptrap / snmpinform with these arguments (numeric OIDs); resolves with the exit code. */
export async function snmpTool(tool: 'snmptrap' | 'snmpinform', args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(tool, args, { env: ENV, timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr ?? String(err) };
  }
}

export interface SnmpRig {
  source: Source;
  store: LocalStreams;
  intake: HeldIntake;
  deps: RuntimeDeps;
  dir: string;
  /** The log as text (JSON lines). */
  log(): string;
  /** The trap port (traps.port 0 in the options). */
  trapPort: number;
  details(): Record<string, unknown> & { targets: Array<Record<string, unknown>>; traps: Record<string, unknown> | null };
  committed(): Promise<Array<Record<string, unknown> & { topic: string }>>;
}

/** A started snmp source of these options (name 'cabinet' unless given). */
export async function snmpRig(t: TestContext, options: Record<string, unknown>): Promise<SnmpRig> {
  const dir = await tempDir(t, 'gatehouse-snmp-');
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const deps: RuntimeDeps = { logger: pino({ level: 'info' }, sink), registry: new Registry() };
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'in', maxBytes: 1 << 26, onFull: 'reject' });
  const intake = heldIntake(store, 'in');
  const parsed = snmpSourceKind.schema.parse({ type: 'snmp', name: 'cabinet', ...options });
  const source = await snmpSourceKind.create(parsed, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  await source.start(intake);
  const details = () => source.status().details as ReturnType<SnmpRig['details']>;
  const listening = (details().traps?.listening as string | undefined) ?? '';
  return {
    source,
    store,
    intake,
    deps,
    dir,
    log: () => text,
    trapPort: Number(listening.split(':').pop() ?? 0),
    details,
    async committed() {
      return (await readAll(store, 'in')).map((r) => ({ topic: r.topic, ...(JSON.parse(r.payload.toString()) as Record<string, unknown>) }));
    },
  };
}
