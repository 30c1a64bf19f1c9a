// The installed gateway run as systemd/gatehouse.service runs it, on a machine without systemd as
// PID 1: install.sh staged into a DESTDIR, the unit's file system emulated by unit-sandbox.sh in a
// private mount namespace (read-only system, writable /var/lib/gatehouse, PrivateTmp, ProtectHome,
// users made in an overlay of /etc), and the unit's ExecStart run exactly, as its User= with its
// UMask=, LimitNOFILE=, Environment= and WorkingDirectory=, no capabilities and no new privileges,
// optionally under strace to find what it touches outside the data dir. Needs root, unshare,
// setpriv and overlayfs (unitSandboxSkip says what is missing).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { repoRoot, tempDir, waitUntil, which } from './index.js';

const script = join(repoRoot, 'test', 'helpers', 'unit-sandbox.sh');

function sandboxSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a mount namespace, users in an overlay of /etc, setpriv): run the tests as root';
  for (const bin of ['unshare', 'setpriv', 'nsenter', 'findmnt', 'useradd'])
    if (!which(bin)) return `needs '${bin}' (Debian packages util-linux, mount, passwd)`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'true']);
  if (r.status !== 0) return `unshare --mount fails here (${String(r.stderr)}): a container without CAP_SYS_ADMIN`;
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'needs overlayfs (modprobe overlay)';
  // the overlays' upper layers go in the temp folder: one on overlayfs itself (a container's root) cannot hold them
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-unit-probe-'));
  try {
    const probe = spawnSync('unshare', [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      `mkdir "$1/u" "$1/w" "$1/m" && mount -t overlay probe -o "lowerdir=/etc,upperdir=$1/u,workdir=$1/w" "$1/m"`,
      'sh',
      dir,
    ]);
    if (probe.status !== 0) return `an overlay with its upper layer in ${tmpdir()} cannot be mounted here (${String(probe.stderr).trim()})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return undefined;
}

/** Why the sandbox cannot run here, or undefined. */
export const unitSandboxSkip: string | undefined = sandboxSkip();
/** strace is optional: without it the trace checks are skipped (the EROFS errors still tell). */
export const straceSkip: string | undefined = which('strace') ? undefined : "needs 'strace' (Debian package strace)";

/** The [Service] settings of the unit the sandbox applies. */
export interface UnitSettings {
  execStart: string[];
  environment: Record<string, string>;
  user: string;
  group: string;
  supplementaryGroups: string[];
  workingDirectory: string;
  umask: string;
  limitNoFile: number;
  /** DevicePolicy= and the DeviceAllow= lines ("char-ttyUSB rw"). */
  devicePolicy: string;
  deviceAllow: string[];
  /** AmbientCapabilities= and CapabilityBoundingSet= (CAP_... names; empty in the unit). */
  ambientCapabilities: string[];
  capabilityBoundingSet: string[];
}

/** Reads the settings from a unit file (one ExecStart without quotes, as ours is). */
export function parseUnit(text: string): UnitSettings {
  const all = (key: string): string[] => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
  const one = (key: string): string => {
    const v = all(key);
    if (v.length !== 1) throw new Error(`the unit has ${v.length} ${key}= lines`);
    return v[0]!;
  };
  const environment: Record<string, string> = {};
  for (const line of all('Environment'))
    for (const pair of line.split(/\s+/)) {
      const eq = pair.indexOf('=');
      environment[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  return {
    execStart: one('ExecStart').split(/\s+/),
    environment,
    user: one('User'),
    group: one('Group'),
    supplementaryGroups: all('SupplementaryGroups').flatMap((l) => l.split(/\s+/)),
    workingDirectory: one('WorkingDirectory'),
    umask: one('UMask'),
    limitNoFile: Number(one('LimitNOFILE')),
    devicePolicy: one('DevicePolicy'),
    deviceAllow: all('DeviceAllow'),
    ambientCapabilities: all('AmbientCapabilities').flatMap((l) => l.split(/\s+/).filter((c) => c)),
    capabilityBoundingSet: all('CapabilityBoundingSet').flatMap((l) => l.split(/\s+/).filter((c) => c)),
  };
}

/** cgroup v1's devices controller, where DevicePolicy= and DeviceAllow= are emulated (else not). */
const DEVICES_CGROUP = '/sys/fs/cgroup/devices';
export const devicesEmulated: boolean = existsSync(join(DEVICES_CGROUP, 'devices.allow'));

/**
 * The devices cgroup rules systemd writes for DevicePolicy=closed plus DeviceAllow=: the pseudo
 * devices it always allows (/dev/null, zero, full, random, urandom, tty, ptmx), and each
 * char-NAME group of /proc/devices (a group not there now is left out, as systemd does).
 */
export function deviceRules(u: UnitSettings): string[] {
  if (u.devicePolicy !== 'closed') throw new Error(`DevicePolicy=${u.devicePolicy} is not emulated`);
  const rules = ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm'];
  const text = readFileSync('/proc/devices', 'utf8');
  const chars = text.slice(0, text.indexOf('Block devices:'));
  for (const line of u.deviceAllow) {
    const [what, access = 'rwm'] = line.split(/\s+/);
    const m = /^char-(.+)$/.exec(what!);
    if (!m) throw new Error(`DeviceAllow=${line} is not emulated`);
    for (const dev of chars.matchAll(/^\s*(\d+) (\S+)$/gm)) if (dev[2] === m[1]) rules.push(`c ${dev[1]}:* ${access}`);
  }
  return rules;
}

/** A devices cgroup with the unit's rules (removeCgroup once its processes are gone). */
function deviceCgroup(u: UnitSettings): string {
  const dir = join(DEVICES_CGROUP, `gatehouse-unit-${process.pid}-${++cgroups}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'devices.deny'), 'a');
  for (const rule of deviceRules(u)) writeFileSync(join(dir, 'devices.allow'), rule);
  return dir;
}

async function removeCgroup(dir: string): Promise<void> {
  await waitUntil(() => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '' || undefined, `${dir} empty`, 10_000);
  rmdirSync(dir);
}
let cgroups = 0;

/** A root staged by install.sh (DESTDIR, --no-modules) and the sandbox's scratch folder. */
export interface StagedInstall {
  root: string;
  work: string;
  unit: UnitSettings;
  /** Where the sandbox's /var/log is written from outside (its overlay's upper layer). */
  varUpper: string;
  /** WORK/out: /var/unit-sandbox inside (strace's files, the serial pty's link). */
  out: string;
}

export async function stageInstall(t: TestContext): Promise<StagedInstall> {
  const root = await tempDir(t, 'gatehouse-unit-');
  const work = join(root, '.sandbox');
  const r = spawnSync('bash', [join(repoRoot, 'systemd', 'install.sh'), '--no-modules'], { env: { ...process.env, DESTDIR: root }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install.sh: ${r.stdout}${r.stderr}`);
  const unit = parseUnit(readFileSync(join(root, 'etc/systemd/system/gatehouse.service'), 'utf8'));
  return { root, work, unit, varUpper: join(work, 'up-var'), out: join(work, 'out') };
}

/**
 * The uid and gid of a user the sandbox makes (gatehouse, pi, ops), for files the test lays down
 * as an administrator would (`chown gatehouse: key.pem`): the sandbox is run once to make them.
 */
export function sandboxIds(stage: StagedInstall, user: string): { uid: number; gid: number } {
  const r = spawnSync('unshare', sandboxArgs(stage, 'true'), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`unit-sandbox.sh: ${r.stdout}${r.stderr}`);
  const line = readFileSync(join(stage.work, 'up-etc', 'passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user} in the sandbox`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * systemd/install.sh run for real (no DESTDIR, --no-modules) in the sandbox, over the staged
 * folders, as root: the user, the ownership and the config check it makes on a gateway. Its output.
 */
export function runInstaller(stage: StagedInstall): string {
  const r = spawnSync('unshare', sandboxArgs(stage, 'true'), {
    encoding: 'utf8',
    env: { ...process.env, SANDBOX_INSTALL: join(repoRoot, 'systemd', 'install.sh') },
  });
  if (r.status !== 0) throw new Error(`unit-sandbox.sh: ${r.stdout}${r.stderr}`);
  return readFileSync(join(stage.out, 'install.log'), 'utf8');
}

/** systemd's PATH for services (systemd.exec(5), "Environment variables in spawned processes"). */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface UnitProcess {
  /** The unshare/sandbox process: its mount namespace is the unit's (nsenter's target). */
  proc: ChildProcess;
  logs: Array<Record<string, unknown>>;
  stderr(): string;
  exited: Promise<number | null>;
  /** The gateway's node process id (for SIGHUP / SIGTERM: strace passes no signal on). */
  nodePid(): Promise<number>;
  signal(sig: NodeJS.Signals): Promise<void>;
  /** SIGTERM to node, as systemctl stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * setpriv's capability options for AmbientCapabilities= within CapabilityBoundingSet= (the unit's
 * are empty: none at all); an ambient capability outside the bounding set is not kept, as with systemd.
 */
function capabilityArgs(u: UnitSettings): string[] {
  const name = (c: string): string => c.replace(/^CAP_/, '').toLowerCase();
  const bounding = u.capabilityBoundingSet.map(name);
  const ambient = u.ambientCapabilities.map(name).filter((c) => bounding.includes(c));
  const plus = (caps: string[]): string => ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return [`--inh-caps=${plus(ambient)}`, ...(ambient.length ? [`--ambient-caps=${plus(ambient)}`] : []), `--bounding-set=${plus(bounding)}`];
}

/** Runs a command line inside the staged root's sandbox (a namespace of its own), as root. */
function sandboxArgs(stage: StagedInstall, inner: string): string[] {
  return [
    '--mount',
    '--propagation',
    'private',
    '--',
    'bash',
    script,
    stage.root,
    stage.work,
    realpathSync(join(repoRoot, 'node_modules')),
    'bash',
    '-c',
    inner,
  ];
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Starts the unit's ExecStart in the sandbox. trace: strace -ff of file and socket calls into
 * stage.out/trace.<pid> (unit-sandbox-trace.ts). dropIn: settings a drop-in changes. data
 * 'overlay-ram': the data dir an overlay written to tmpfs (unit-sandbox.sh SANDBOX_DATA).
 */
export function startUnit(
  t: TestContext,
  stage: StagedInstall,
  opts: { trace?: boolean; dropIn?: Partial<UnitSettings>; data?: 'overlay-ram' } = {},
): UnitProcess {
  const u = { ...stage.unit, ...opts.dropIn };
  // DevicePolicy/DeviceAllow: the sandbox's shell joins the cgroup before it execs (all below inherit it)
  const cgroup = devicesEmulated ? deviceCgroup(u) : undefined;
  const joinDevices = cgroup ? `echo $$ > ${q(join(cgroup, 'cgroup.procs'))} && ` : '';
  const env = { PATH: SYSTEMD_PATH, HOME: '/var/lib/gatehouse', USER: u.user, LOGNAME: u.user, SHELL: '/usr/sbin/nologin', ...u.environment };
  // systemd sets the groups of User= from the group database plus SupplementaryGroups= ($groups,
  // made in the sandbox: the user and its groups exist only there).
  const drop = [
    'setpriv',
    `--reuid=${u.user}`,
    `--regid=${u.group}`,
    ...capabilityArgs(u),
    '--no-new-privs',
    '--',
    'env',
    '-i',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...u.execStart,
  ];
  const traced = opts.trace ? ['strace', '-ff', '-qq', '-e', 'trace=%file,socket', '-e', 'signal=none', '-o', '/var/unit-sandbox/trace', ...drop] : drop;
  const groups = `"--groups=$(id -Gn ${q(u.user)} | tr ' ' ,)${u.supplementaryGroups.map((g) => `,${g}`).join('')}"`;
  const [setpriv, ...rest] = traced.slice(traced.indexOf('setpriv'));
  const prefix = traced.slice(0, traced.indexOf('setpriv'));
  const command = [...prefix.map(q), setpriv!, groups, ...rest.map(q)].join(' ');
  // LimitNOFILE: at most the hard limit this machine allows (a container may cap it lower).
  const inner = `${joinDevices}umask ${u.umask} && ulimit -n $(( $(ulimit -Hn) < ${u.limitNoFile} ? $(ulimit -Hn) : ${u.limitNoFile} )) && cd ${q(u.workingDirectory)} && exec ${command}`;
  const proc = spawn('unshare', sandboxArgs(stage, inner), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.data ? { SANDBOX_DATA: opts.data } : {}) },
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ raw: line });
    }
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const nodePid = async (): Promise<number> =>
    waitUntil(
      () => {
        // The sandbox's descendants, down to node (strace, setpriv and env exec or fork on the way).
        let pids = [proc.pid!];
        for (let depth = 0; depth < 6 && pids.length > 0; depth++) {
          for (const pid of pids) {
            const comm = readComm(pid);
            if (comm === 'node') return pid;
          }
          pids = pids.flatMap((p) => childrenOf(p));
        }
        return undefined;
      },
      'the unit sandbox has a node process',
      10_000,
    );
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    process.kill(await nodePid(), sig);
  };
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(await nodePid(), 'SIGKILL');
      } catch {
        proc.kill('SIGKILL');
      }
      await exited;
    }
    if (cgroup) await removeCgroup(cgroup);
  });
  return {
    proc,
    logs,
    stderr: () => stderr,
    exited,
    nodePid,
    signal,
    async stop() {
      await signal('SIGTERM');
      return exited;
    },
  };
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((l) => l)
    .map(Number);
}

/** Waits for the log line with this msg (the unit's journal), or fails with the log so far. */
export async function unitLogLine(
  u: UnitProcess,
  msg: string | RegExp | ((l: Record<string, unknown>) => boolean),
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const match = (l: Record<string, unknown>): boolean =>
    typeof msg === 'function' ? msg(l) : typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg));
  return waitUntil(
    () => {
      if (u.proc.exitCode !== null) throw new Error(`the unit exited ${u.proc.exitCode}: ${u.stderr()}${JSON.stringify(u.logs.slice(-5))}`);
      return u.logs.find(match);
    },
    `log line ${String(msg)} (${u.stderr()}${JSON.stringify(u.logs.slice(-3))})`,
    timeoutMs,
    20,
  );
}

/**
 * Runs argv as `user` (pi: the operator, not in group gatehouse; ops: an operator in group
 * gatehouse; root) in the running unit's mount namespace: what an operator's shell on the
 * gateway sees (the unit's users, /etc/gatehouse, /usr/local/bin/gatehouse).
 */
export function asUser(u: UnitProcess, user: string, argv: string[], env: Record<string, string> = {}): { code: number | null; out: string; stdout: string } {
  const home = user === 'root' ? '/root' : user === 'gatehouse' ? '/var/lib/gatehouse' : `/home/${user}`;
  const full = { PATH: SYSTEMD_PATH, HOME: home, USER: user, LANG: 'C.UTF-8', ...env };
  const r = spawnSync(
    'nsenter',
    [
      `--target=${u.proc.pid}`,
      '--mount',
      '--',
      'setpriv',
      `--reuid=${user}`,
      `--regid=${user}`,
      '--init-groups',
      '--',
      'env',
      '-i',
      ...Object.entries(full).map(([k, v]) => `${k}=${v}`),
      'bash',
      '-c',
      `cd && umask 0022 && exec ${argv.map(q).join(' ')}`,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}
