// The installed gateway as systemd/gatehouse.service runs it (test/helpers/unit-sandbox.ts: user
// gatehouse, read-only system but /var/lib/gatehouse, PrivateTmp, ProtectHome, UMask=0027, no
// capabilities), used as a user would: every feature that writes or reads something, traced with
// strace. Nothing may be written outside the data dir, no socket family outside the unit's
// RestrictAddressFamilies, and the operators' commands work as the docs say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { freePort, needBinary, repoRoot, tempDir, waitUntil, which } from '../helpers/index.js';
import { startNotifyManager } from '../helpers/notify-manager.js';
import { startNats, startS3rver } from '../helpers/peers.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { ramBacking } from '../../gateway/cli/data-dir-ram.js';
import { readTrace } from '../helpers/unit-sandbox-trace.js';
import {
  asUser,
  devicesEmulated,
  runInstaller,
  sandboxIds,
  stageInstall,
  startUnit,
  straceSkip,
  unitLogLine,
  unitSandboxSkip,
} from '../helpers/unit-sandbox.js';

const skip =
  unitSandboxSkip ??
  straceSkip ??
  (which('socat') ? undefined : "needs 'socat' (Debian package socat)") ??
  (which('nats-server') ? undefined : "needs 'nats-server'");
const TOKEN = 'unit-sandbox-admin-token-0123456789';
const CLI = join(repoRoot, 'bin', 'gatehouse.js');

/** The group id of a host group (the sandbox's /etc/group is an overlay of the host's: same ids for existing groups). */
function gid(name: string): number {
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
}

/** The archive stream's last sequence and its exporters' counts (GET /api/streams). */
async function archive(port: number): Promise<{ lastSeq: number; exporters: Array<{ name: string; exportedRecords: number }> } | undefined> {
  const body = JSON.parse((await api(port, '/api/streams')).body) as {
    streams: Array<{ name: string; lastSeq: number; exporters: Array<{ name: string; exportedRecords: number }> }>;
  };
  return body.streams.find((s) => s.name === 'archive');
}

async function api(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.text() };
}

/** The served certificate's fingerprint on a new TLS connection. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

test("the installed gateway under the unit's restrictions: MQTT 3.1.1/5 over TCP and TLS, a reload of renewed certificates, a serial link, a tailed /var/log file, a signed rule update, cron jobs, file, S3 and NATS exports, the admin API, operators' commands, a store repaired at start: nothing written outside /var/lib/gatehouse", {
  skip,
  timeout: 120_000,
}, async (t) => {
  const stage = await stageInstall(t);
  const etc = join(stage.root, 'etc/gatehouse');
  const [mqttPort, tlsPort, adminPort] = [await freePort(t), await freePort(t), await freePort(t)];
  const s3 = await startS3rver(t, ['unit']);
  const nats = await startNats(t);
  const keys = await tempDir(t);

  // TLS files as docs/broker.md says: the key the gateway's user's alone (sudo chown gatehouse:
  // key.pem && sudo chmod 600 key.pem; the user is the sandbox's, made by sandboxIds).
  mkdirSync(join(etc, 'tls'));
  const first = opensslSelfSigned(keys, 1, 'first');
  copyFileSync(first.cert, join(etc, 'tls/cert.pem'));
  copyFileSync(first.key, join(etc, 'tls/key.pem'));
  const gatehouse = sandboxIds(stage, 'gatehouse');
  chownSync(join(etc, 'tls/key.pem'), gatehouse.uid, gatehouse.gid);
  chmodSync(join(etc, 'tls/key.pem'), 0o600);
  // A signed rule update's key pair (gatehouse rules keygen), the public key in /etc/gatehouse.
  execFileSync(process.execPath, [CLI, 'rules', 'keygen', '--out', join(keys, 'office')]);
  copyFileSync(join(keys, 'office.pub'), join(etc, 'office.pub'));
  // The serial port: a socat pty pair, the gateway's end root:dialout 0660 as a ttyUSB's node is.
  mkdirSync(stage.out, { recursive: true });
  const tty = spawn('socat', [`pty,raw,echo=0,link=${join(stage.out, 'device')}`, `pty,raw,echo=0,link=${join(stage.out, 'tty-gw')}`], { stdio: 'ignore' });
  t.after(() => tty.kill('SIGKILL'));
  const gwTty = await waitUntil(() => {
    try {
      return realpathSync(join(stage.out, 'tty-gw'));
    } catch {
      return undefined;
    }
  }, 'socat made the pty pair');
  chownSync(gwTty, 0, gid('dialout'));
  chmodSync(gwTty, 0o660);
  // A log file under /var/log as rsyslog makes them: root:adm 0640.
  const varLog = join(stage.varUpper, 'log');
  mkdirSync(varLog, { recursive: true });
  const appLog = join(varLog, 'app.log');
  writeFileSync(appLog, '{"line":1}\n');
  chownSync(appLog, 0, gid('adm'));
  chmodSync(appLog, 0o640);

  const config = {
    gatewayId: 'site7',
    broker: {
      listeners: [
        { host: '127.0.0.1', port: mqttPort },
        { host: '127.0.0.1', port: tlsPort, tls: { cert: '/etc/gatehouse/tls/cert.pem', key: '/etc/gatehouse/tls/key.pem' } },
      ],
    },
    streams: { archive: { maxBytes: 16777216, onFull: 'reject' } },
    rules: { version: 1, rules: [{ name: 'archive_all', sql: "SELECT * FROM 'fleet/#'", actions: [{ stream: { name: 'archive' } }] }] },
    exporters: [
      { name: 'files', stream: 'archive', batch: { lingerMs: 0 }, destination: { type: 'file', gzip: true } },
      {
        name: 's3',
        stream: 'archive',
        batch: { lingerMs: 0 },
        destination: { type: 's3', bucket: 'unit', endpoint: s3.url, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      },
      { name: 'nats', stream: 'archive', batch: { lingerMs: 0 }, destination: { type: 'nats', servers: nats.url, stream: 'UNIT', createStream: true } },
    ],
    serial: [{ name: 'tank', path: '/var/unit-sandbox/tty-gw', framing: { type: 'line' }, codec: { type: 'json' }, topic: 'fleet/serial/${link}' }],
    sources: [{ type: 'file', name: 'applog', paths: ['/var/log/app.log'], initialPosition: 'start_of_file', topic: 'fleet/file/{name}' }],
    jobs: [
      { name: 'hb', schedule: '* * * * * *', type: 'heartbeat' },
      { name: 'sweep', schedule: '* * * * * *', type: 'sweep' },
    ],
    control: { publicKeys: ['/etc/gatehouse/office.pub'] },
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
  };
  writeFileSync(join(etc, 'gatehouse.yaml'), JSON.stringify(config, null, 2));

  const unit = startUnit(t, stage, { trace: true });
  await unitLogLine(unit, 'gatehouse started');
  // the staged data dir is on this machine's disk: no RAM warning (unless /tmp is a tmpfs here)
  if (!ramBacking(stage.root)) assert.ok(!unit.logs.some((l) => l.code === 'GH_STORE_IN_RAM'), 'no RAM warning for a disk');

  // Devices: MQTT 3.1.1 over TCP, MQTT 5 over TLS, QoS 1: PUBACK once stored.
  const v3 = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'truck-3', reconnectPeriod: 0 });
  t.after(() => v3.endAsync(true));
  await v3.publishAsync('fleet/truck-3', '{"temp":1}', { qos: 1 });
  const v5 = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
    clientId: 'truck-5',
    protocolVersion: 5,
    ca: readFileSync(first.cert),
    servername: 'localhost',
    reconnectPeriod: 0,
  });
  t.after(() => v5.endAsync(true));
  await v5.publishAsync('fleet/truck-5', '{"temp":2}', { qos: 1 });
  // The heartbeat job publishes on the local broker.
  const heartbeat = new Promise<Record<string, unknown>>((resolve) =>
    v3.once('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)),
  );
  await v3.subscribeAsync('gatehouse/site7/heartbeat', { qos: 1 });
  assert.equal((await heartbeat).gatewayId, 'site7', 'the cron job ran');

  // A renewed certificate, written into the read-only /etc/gatehouse from outside (the renewal
  // agent), read again on `systemctl reload` (SIGHUP). Written into the existing files, which keep
  // their owner and mode (the key the gatehouse user's, 0600): not copyFileSync, which on Node 22
  // and 24 (libuv 1.49+) also copies the source's owner, here root's, and the key would no longer load.
  const renewed = opensslSelfSigned(keys, 2, 'renewed');
  writeFileSync(join(etc, 'tls/key.pem'), readFileSync(renewed.key));
  writeFileSync(join(etc, 'tls/cert.pem'), readFileSync(renewed.cert));
  await unit.signal('SIGHUP');
  await unitLogLine(unit, /^TLS certificate reloaded/);
  assert.equal(await servedFingerprint(tlsPort, readFileSync(renewed.cert, 'utf8')), new X509Certificate(readFileSync(renewed.cert)).fingerprint256);

  // The tailed log file gets a line.
  appendFileSync(appLog, '{"line":2}\n');

  // A signed rule update on the control topic (made by the CLI, as an office would).
  const rulesFile = join(keys, 'rules-2.json');
  writeFileSync(
    rulesFile,
    JSON.stringify({
      version: 2,
      rules: [...config.rules.rules, { name: 'second', sql: "SELECT * FROM 'more/#'", actions: [{ stream: { name: 'archive' } }] }],
    }),
  );
  const envelope = execFileSync(
    process.execPath,
    [CLI, 'rules', 'sign', rulesFile, '--key', join(keys, 'office.key'), '--targets', 'site7', '--version', '2'],
    { encoding: 'utf8' },
  );
  await v3.publishAsync('gatehouse/site7/rules/set', envelope.trim(), { qos: 1 });
  await unitLogLine(unit, (l) => l.msg === 'rule set applied' && l.version === 2);

  // Every record exported by the three destinations; the serial and file records among them.
  const streams = await waitUntil(
    async () => {
      const a = await archive(adminPort);
      return a && a.lastSeq >= 2 && a.exporters.every((e) => e.exportedRecords >= 2) ? a : undefined;
    },
    'the 2 MQTT records exported to files, S3 and NATS (the log file and the pty are not allowed yet)',
    20_000,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(unit.logs.filter((l) => Number(l.level) >= 40))}`);
  });
  assert.ok(streams);

  // The admin API, status page and metrics.
  assert.equal((await api(adminPort, '/')).status, 200);
  assert.match((await api(adminPort, '/metrics')).body, /gatehouse_store_commits_total|gatehouse_/);
  assert.equal((await api(adminPort, '/healthz')).status, 200);

  // Operators. pi (not in group gatehouse) cannot read the config (0640 root:gatehouse: it holds
  // the token and password hashes), so status --config is refused with what to do; --token works.
  const piStatus = asUser(unit, 'pi', ['gatehouse', 'status', '--config', '/etc/gatehouse/gatehouse.yaml']);
  assert.notEqual(piStatus.code, 0);
  assert.match(piStatus.out, /GH_CONFIG_READ/);
  // ... saying who runs, who may read it and the ways in (it said "check the path and the file permissions")
  assert.match(piStatus.out, /this command runs as pi \(groups pi\); \/etc\/gatehouse\/gatehouse\.yaml is root:gatehouse, mode 0640/);
  assert.match(piStatus.out, /with sudo, or as a member of its group \(sudo adduser pi gatehouse, then log in again\)/);
  assert.match(piStatus.out, /--token or GATEHOUSE_ADMIN_TOKEN/);
  const piToken = asUser(unit, 'pi', ['gatehouse', 'status', '--admin', `http://127.0.0.1:${adminPort}`, '--token', TOKEN]);
  assert.equal(piToken.code, 0, piToken.out);
  // ops (in group gatehouse) reads it: status, check-config with the unit's data dir.
  const opsStatus = asUser(unit, 'ops', ['gatehouse', 'status', '--config', '/etc/gatehouse/gatehouse.yaml']);
  assert.equal(opsStatus.code, 0, opsStatus.out);
  assert.match(opsStatus.out, /site7/);
  // check-config reads every file the config names: as ops it cannot read the TLS key (the
  // gateway user's alone, as docs/broker.md makes it); as the gateway's user, what the unit reads.
  const opsCheck = asUser(unit, 'ops', ['gatehouse', 'check-config', '/etc/gatehouse/gatehouse.yaml', '--data-dir', '/var/lib/gatehouse']);
  assert.equal(opsCheck.code, 1, opsCheck.out);
  assert.match(opsCheck.out, /key\.pem cannot be read \(EACCES\)/);
  // ... saying who may read it and how to check as the gateway's user (it said "fix the path or the file's permissions")
  assert.match(opsCheck.out, /this command runs as ops \(groups ops, gatehouse\); \/etc\/gatehouse\/tls\/key\.pem is gatehouse:gatehouse, mode 0600/);
  assert.match(opsCheck.out, /sudo -u gatehouse gatehouse check-config/);
  const asGateway = asUser(unit, 'gatehouse', ['gatehouse', 'check-config', '/etc/gatehouse/gatehouse.yaml', '--data-dir', '/var/lib/gatehouse']);
  assert.equal(asGateway.code, 0, asGateway.out);
  // the export files, made with UMask=0027, are the group's to read
  const exported = asUser(unit, 'ops', ['bash', '-c', 'zcat /var/lib/gatehouse/export/*/*/*/*/*.ndjson.gz | wc -l']);
  assert.equal(exported.code, 0, exported.out);
  assert.ok(Number(exported.stdout.trim()) >= 2, exported.out);

  assert.equal(await unit.stop(), 0, 'a graceful stop');

  // The log file of group adm was refused, and the warning says who the gateway runs as, the
  // file's owner and mode, and the unit's drop-in that gives it the group.
  const refusedLog = unit.logs.find((l) => l.code === 'GH_FILE_UNREADABLE');
  assert.ok(refusedLog, 'the file source said it could not read /var/log/app.log');
  assert.match(String(refusedLog.msg), /the gateway runs as gatehouse \(groups gatehouse, dialout\); \/var\/log\/app\.log is root:adm, mode 0640/);
  assert.match(String(refusedLog.msg), /SupplementaryGroups=adm/);

  // The pty (char-pts, major 136) is not in the unit's DeviceAllow= classes: EPERM from the devices
  // cgroup, said as such (it said "permissions (dialout group)", a group the user is in).
  if (devicesEmulated) {
    const serial = unit.logs.find((l) => /GH_SERIAL_OPEN/.test(String(l.msg)));
    assert.ok(serial, 'the serial link could not open the pty');
    assert.match(String(serial.msg), /Operation not permitted/);
    assert.match(String(serial.msg), /DeviceAllow=char-NAME rw, NAME from \/proc\/devices/);
  }

  // Started again with the drop-ins (SupplementaryGroups=adm, DeviceAllow=char-pts rw), on a
  // damaged store (CURRENT cut short: an SD card, a power cut): repaired, the file's two lines
  // read and the device's line stored.
  writeFileSync(join(stage.root, 'var/lib/gatehouse/store/CURRENT'), 'MANIFEST-0');
  const again = startUnit(t, stage, {
    trace: true,
    dropIn: { supplementaryGroups: [...stage.unit.supplementaryGroups, 'adm'], deviceAllow: [...stage.unit.deviceAllow, 'char-pts rw'] },
  });
  await unitLogLine(again, 'gatehouse started');
  await unitLogLine(again, (l) => l.link === 'tank' && /open/i.test(String(l.msg)) && Number(l.level) === 30, 10_000);
  writeFileSync(join(stage.out, 'device'), '{"level":42}\n');
  await waitUntil(
    async () => ((await archive(adminPort))?.lastSeq ?? 0) >= 5 || undefined,
    'the two lines of /var/log/app.log and the serial line stored',
    10_000,
    100,
  );
  assert.ok(!again.logs.some((l) => l.code === 'GH_FILE_UNREADABLE'), 'read with the drop-in');
  assert.ok(
    again.logs.some((l) => l.code === 'GH_STORE_REPAIRED' || /repaired/.test(String(l.msg))),
    JSON.stringify(again.logs.slice(0, 8)),
  );
  assert.equal(await again.stop(), 0);

  // HOME is the data dir (useradd --home-dir /var/lib/gatehouse): nothing but the gateway's own
  // files there, no npm, node or other cache (.cache, .npm).
  const dotted = readdirSync(join(stage.root, 'var/lib/gatehouse')).filter((n) => n.startsWith('.'));
  assert.deepEqual(dotted, [], 'no dot-files in HOME');
  // (the serial link opens its port, a device node, read-write)
  const trace = readTrace(stage, ['/var/lib/gatehouse/', '/var/unit-sandbox/tty-gw']);
  assert.ok(trace.lines > 1000, `strace saw the gateway (${trace.lines} lines)`);
  assert.deepEqual(trace.outside, [], 'nothing written outside /var/lib/gatehouse');
  assert.deepEqual(
    [...trace.families].filter((f) => !['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK'].includes(f)),
    [],
    'socket families within RestrictAddressFamilies',
  );
  // The refusals: the log file of group adm and the pty, before the drop-ins allowed them.
  assert.deepEqual(
    trace.refused.filter(
      (r) =>
        !/^openat\(AT_FDCWD, "\/var\/log\/app\.log", O_RDONLY\|O_CLOEXEC\) = -1 EACCES/.test(r.line) &&
        !/^openat\(AT_FDCWD, "\/var\/unit-sandbox\/tty-gw", O_RDWR\|.*\) = -1 EPERM/.test(r.line),
    ),
    [],
    'no other EROFS, EACCES or EPERM',
  );
});

test("install.sh checks the config as the unit's user: a TLS key only root can read is a warning, not an ok followed by a start that fails (exit 78)", {
  skip: unitSandboxSkip ?? (which('openssl') ? undefined : "needs 'openssl'"),
}, async (t) => {
  const stage = await stageInstall(t);
  const etc = join(stage.root, 'etc/gatehouse');
  const keys = await tempDir(t);
  const pair = opensslSelfSigned(keys, 1, 'gw');
  mkdirSync(join(etc, 'tls'));
  copyFileSync(pair.cert, join(etc, 'tls/cert.pem'));
  copyFileSync(pair.key, join(etc, 'tls/key.pem'));
  chmodSync(join(etc, 'tls/key.pem'), 0o600); // root's, as openssl run with sudo leaves it
  writeFileSync(
    join(etc, 'gatehouse.yaml'),
    'broker:\n  listeners:\n    - { host: 127.0.0.1, port: 8883, tls: { cert: /etc/gatehouse/tls/cert.pem, key: /etc/gatehouse/tls/key.pem } }\n',
  );
  // A config kept from before (written as root:root 0640, not by the installer): the unit cannot read it.
  const kept = runInstaller(stage);
  assert.match(kept, /created system user gatehouse/, kept);
  assert.match(kept, /WARNING: \/etc\/gatehouse\/gatehouse\.yaml does not pass check-config/, kept);
  assert.match(kept, /GH_CONFIG_READ: .*this command runs as gatehouse .*gatehouse\.yaml is root:root, mode 0640/, kept);
  const gatehouse = sandboxIds(stage, 'gatehouse');
  chownSync(join(etc, 'gatehouse.yaml'), 0, gatehouse.gid);
  // Its group fixed: the key only root can read is what is refused now (run by root, the check passed it).
  const refused = runInstaller(stage);
  assert.match(refused, /WARNING: \/etc\/gatehouse\/gatehouse\.yaml does not pass check-config/, refused);
  assert.match(refused, /key\.pem cannot be read \(EACCES\)/, refused);
  // the key given to the gateway's user, as docs/broker.md says: then it passes, checked as that user
  chownSync(join(etc, 'tls/key.pem'), gatehouse.uid, gatehouse.gid);
  const ok = runInstaller(stage);
  assert.match(ok, /check-config \/etc\/gatehouse\/gatehouse\.yaml --data-dir \/var\/lib\/gatehouse as gatehouse: ok/, ok);
});

test('a listener on a port below 1024 under the unit (no capabilities): refused with the drop-in that grants CAP_NET_BIND_SERVICE, which then binds it', {
  skip: unitSandboxSkip,
}, async (t) => {
  const stage = await stageInstall(t);
  const port = 883; // below 1024: nothing on this machine listens there (the test asserts the bind)
  writeFileSync(join(stage.root, 'etc/gatehouse/gatehouse.yaml'), `broker: { listeners: [{ host: 127.0.0.1, port: ${port} }] }\nadmin: { enabled: false }\n`);
  const refused = startUnit(t, stage);
  // exit 78 (EX_CONFIG, RestartPreventExitStatus): it was 1, restarted every 5 s to fail the same way
  assert.equal(await refused.exited, 78, JSON.stringify(refused.logs.slice(-3)));
  const text = `${refused.stderr()}${JSON.stringify(refused.logs)}`;
  assert.match(text, /GH_BROKER_LISTEN/);
  // it said "grant CAP_NET_BIND_SERVICE": under the unit, two lines of a drop-in
  assert.match(text, /AmbientCapabilities=CAP_NET_BIND_SERVICE and CapabilityBoundingSet=CAP_NET_BIND_SERVICE/);
  const granted = startUnit(t, stage, { dropIn: { ambientCapabilities: ['CAP_NET_BIND_SERVICE'], capabilityBoundingSet: ['CAP_NET_BIND_SERVICE'] } });
  const started = await unitLogLine(granted, 'gatehouse started');
  assert.deepEqual(
    (started.mqtt as Array<{ port: number }>).map((l) => l.port),
    [port],
  );
  assert.equal(await granted.stop(), 0);
});

test("a data directory in RAM (Raspberry Pi OS's overlay file system, writes to tmpfs) is said at start and by check-config: acknowledged data would not survive a reboot", {
  skip: unitSandboxSkip,
}, async (t) => {
  const stage = await stageInstall(t);
  writeFileSync(
    join(stage.root, 'etc/gatehouse/gatehouse.yaml'),
    `broker: { listeners: [{ host: 127.0.0.1, port: ${await freePort(t)} }] }\nadmin: { enabled: false }\n`,
  );
  const unit = startUnit(t, stage, { data: 'overlay-ram' });
  const warned = await unitLogLine(unit, (l) => l.code === 'GH_STORE_IN_RAM');
  assert.match(String(warned.msg), /the data directory \/var\/lib\/gatehouse is on an overlay written to tmpfs \(RAM\)/);
  await unitLogLine(unit, 'gatehouse started');
  const check = asUser(unit, 'gatehouse', ['gatehouse', 'check-config', '/etc/gatehouse/gatehouse.yaml', '--data-dir', '/var/lib/gatehouse']);
  assert.equal(check.code, 0, check.out);
  assert.match(check.out, /warning: the data directory \/var\/lib\/gatehouse is on an overlay written to tmpfs \(RAM\)/);
  assert.equal(await unit.stop(), 0);
});

test("AWS credentials of the SDK's shared profile, under the unit: the gatehouse user's HOME, /var/lib/gatehouse/.aws/credentials (ProtectHome= hides /root's)", {
  skip: unitSandboxSkip,
}, async (t) => {
  const stage = await stageInstall(t);
  const s3 = await startS3rver(t, ['creds']);
  const adminPort = await freePort(t);
  const mqttPort = await freePort(t);
  // as an operator would write it: sudo install -d -o gatehouse -g gatehouse -m 0700 /var/lib/gatehouse/.aws, the file 0600
  const gatehouse = sandboxIds(stage, 'gatehouse');
  const aws = join(stage.root, 'var/lib/gatehouse/.aws');
  mkdirSync(aws, { mode: 0o700 });
  writeFileSync(join(aws, 'credentials'), '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n', { mode: 0o600 });
  for (const p of [aws, join(aws, 'credentials')]) chownSync(p, gatehouse.uid, gatehouse.gid);
  const config = {
    broker: { listeners: [{ host: '127.0.0.1', port: mqttPort }] },
    admin: { host: '127.0.0.1', port: adminPort, token: TOKEN },
    exporters: [
      { name: 's3', stream: 'archive', batch: { lingerMs: 0 }, destination: { type: 's3', bucket: 'creds', endpoint: s3.url, forcePathStyle: true } },
    ],
  };
  writeFileSync(join(stage.root, 'etc/gatehouse/gatehouse.yaml'), JSON.stringify(config));
  const unit = startUnit(t, stage);
  await unitLogLine(unit, 'gatehouse started');
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'd', reconnectPeriod: 0 });
  t.after(() => device.endAsync(true));
  await device.publishAsync('fleet/d', '{"n":1}', { qos: 1 });
  await waitUntil(
    async () => ((await archive(adminPort))?.exporters[0]?.exportedRecords ?? 0) >= 1 || undefined,
    'the record in S3, signed with the profile',
    15_000,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(unit.logs.filter((l) => Number(l.level) >= 40))}`);
  });
  assert.equal(await unit.stop(), 0);
});

test("Type=notify under the unit: as its user, without capabilities, on a read-only /run (ProtectSystem=strict), systemd-notify reaches PID 1's socket: READY=1 once the broker accepts, pings, STOPPING=1", {
  skip: unitSandboxSkip ?? needBinary('python3', 'python3') ?? needBinary('systemd-notify', 'systemd'),
  timeout: 60_000,
}, async (t) => {
  const stage = await stageInstall(t);
  const [mqttPort, adminPort] = [await freePort(t), await freePort(t)];
  writeFileSync(
    join(stage.root, 'etc/gatehouse/gatehouse.yaml'),
    `broker: { listeners: [{ host: 127.0.0.1, port: ${mqttPort} }] }\nadmin: { port: ${adminPort} }\nexporters: []\n`,
  );
  // The stand-in for PID 1 (test/helpers/notify-manager.py) outside the sandbox, its socket under
  // /run as /run/systemd/notify is: the sandbox sees /run read-only.
  const run = mkdtempSync('/run/gatehouse-notify-');
  chmodSync(run, 0o755);
  t.after(() => rmSync(run, { recursive: true, force: true }));
  const manager = await startNotifyManager(t, mqttPort, run);
  const unit = startUnit(t, stage, { dropIn: { environment: { ...stage.unit.environment, NOTIFY_SOCKET: join(run, 'notify'), WATCHDOG_USEC: '2000000' } } });
  const ready = await manager.waitFor('READY=1', 45_000);
  assert.equal(ready.accepting, true, 'the broker accepts connections when READY=1 arrives');
  // Sent as the unit's user by systemd-notify's own process, not the gateway's (a user without
  // privileges cannot send another pid): why the unit needs NotifyAccess=all.
  const gatehouse = sandboxIds(stage, 'gatehouse');
  assert.equal(ready.uid, gatehouse.uid);
  assert.notEqual(ready.pid, await unit.nodePid());
  await waitUntil(() => manager.with('WATCHDOG=1').filter((m) => m.t > ready.t).length >= 2, 'pings after READY=1', 15_000);
  assert.equal(await unit.stop(), 0);
  await manager.waitFor('STOPPING=1', 5000);
  assert.ok(!unit.logs.some((l) => /systemd-notify/.test(String(l.msg))), JSON.stringify(unit.logs.filter((l) => /systemd/.test(String(l.msg)))));
});
