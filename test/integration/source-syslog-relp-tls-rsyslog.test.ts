// RELP over TLS (relp.tls) with rsyslog's own omrelp (Debian `rsyslog-relp`, librelp 1.11): what
// a sender must write, and what fails and how it shows. librelp's GnuTLS client (omrelp's default)
// without a certificate of its own offers anonymous suites only (isAnonAuth: no tls.myCert), which
// no certificate-serving server shares ("no shared cipher"); with tls.myCert, or with
// tls.tlslib="openssl", the handshake is a certificate one. Also: a kill -9 mid-flow over TLS loses
// nothing, a SIGHUP swaps in a new certificate, a plain RELP client on the TLS port and a TLS
// client on a plain relp port are counted and said.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { restartablePort } from '../helpers/ports.js';
import { checkConfigText } from '../helpers/check-config.js';
import { deviceCa } from '../helpers/device-ca.js';
import { archived, flowAcrossRestart, lineSender, missing, rsyslogd, syslogGateway } from '../helpers/rsyslog.js';
import { rawTcp, syslogRig, type SyslogRig } from '../helpers/syslog-rig.js';

const OMRELP = '/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so';
const noOpenssl = needBinary('openssl', 'openssl');
const skip =
  noOpenssl ??
  needBinary('rsyslogd', 'rsyslog') ??
  needBinary('logger', 'bsdutils') ??
  (existsSync(OMRELP) || existsSync(OMRELP.replace('x86_64', 'aarch64'))
    ? undefined
    : "needs rsyslog's RELP output: install the Debian package 'rsyslog-relp'");

/** A CA, the gateway's certificate (CN=localhost) and a sender's (CN=sender.example), in `dir`. */
function pki(dir: string) {
  const ca = deviceCa(dir, 'relp');
  return { ca: ca.cert, gw: ca.issue('gw', '/CN=localhost'), sender: ca.issue('sender', '/CN=sender.example'), issue: ca.issue };
}

type Pki = ReturnType<typeof pki>;

/** The omrelp action documented in docs/syslog-source.md: GnuTLS, the sender's own certificate, the gateway's checked by name. */
function gnutlsAction(p: Pki, port: number | string): string {
  return `module(load="omrelp")
action(type="omrelp" target="127.0.0.1" port="${port}" tls="on"
  tls.caCert="${p.ca}" tls.myCert="${p.sender.cert}" tls.myPrivKey="${p.sender.key}"
  tls.authMode="name" tls.permittedPeer=["localhost"]
  template="RSYSLOG_SyslogProtocol23Format"
  queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1" action.resumeInterval="1")`;
}

/** rsyslogd forwarding by `action`, and a logger feeding it: send(n) sends `n=<i>` lines. */
async function sender(t: TestContext, action: string) {
  const dir = await tempDir(t, 'gatehouse-relp-tls-rs-');
  const inPort = await restartablePort(t);
  await rsyslogd(t, dir, inPort, action);
  const lines = lineSender(t, inPort);
  return { send: (from: number, n: number) => Array.from({ length: n }, (_, i) => lines.send(`n=${from + i}`)) };
}

/** The socket closed (events.once would reject at its 'error', which a refused handshake emits first). */
const closed = (s: Socket) => new Promise<void>((r) => s.once('close', () => r()));

function warnings(rig: SyslogRig): string[] {
  const out: string[] = [];
  const warn = rig.deps.logger.warn.bind(rig.deps.logger);
  rig.deps.logger.warn = ((...args: Parameters<typeof warn>) => {
    out.push(String(args.find((a) => typeof a === 'string')));
    return warn(...args);
  }) as typeof warn;
  return out;
}

const details = (rig: SyslogRig) =>
  rig.source.status().details as { connectionOutcomes: Record<string, number>; listening: Record<string, string>; messages: number };

async function committedN(rig: SyslogRig, n: number) {
  return waitUntil(
    async () => {
      const got = await rig.committed();
      return got.length >= n ? got : undefined;
    },
    `${n} messages committed`,
    20_000,
    50,
  );
}

test('omrelp with GnuTLS and a certificate of its own (tls.myCert), checked against relp.tls.ca: messages arrive, transport relp', { skip }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key, ca: p.ca } } });
  const s = await sender(t, gnutlsAction(p, rig.relp));
  s.send(0, 20);
  const got = await committedN(rig, 20);
  assert.deepEqual(
    got.map((m) => Number(/n=(\d+)/.exec(String(m.message))?.[1])).sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.ok(got.every((m) => m.transport === 'relp' && m.format === 'rfc5424'));
  assert.equal(details(rig).connectionOutcomes['tls-failed'], undefined);
  assert.ok((details(rig).connectionOutcomes.accepted ?? 0) >= 1);
});

test('omrelp loaded with tls.tlslib="openssl" and no certificate of its own: messages arrive (relp.tls without ca)', { skip }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key } } });
  const s = await sender(
    t,
    `module(load="omrelp" tls.tlslib="openssl")
action(type="omrelp" target="127.0.0.1" port="${rig.relp}" tls="on" tls.caCert="${p.ca}" tls.authMode="name" tls.permittedPeer=["localhost"]
  template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")`,
  );
  s.send(0, 10);
  const got = await committedN(rig, 10);
  assert.ok(got.every((m) => m.transport === 'relp'));
});

test('what fails and how it shows: GnuTLS omrelp without tls.myCert (no shared cipher), a sender without a certificate when relp.tls.ca requires one; each counted tls-failed on relp and said with its fix', {
  skip,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  // anonymous TLS only: what the first try met
  const anon = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key } } });
  const anonSaid = warnings(anon);
  // omrelp connects at its first message
  const anonSender = await sender(
    t,
    `module(load="omrelp")
action(type="omrelp" target="127.0.0.1" port="${anon.relp}" tls="on" tls.caCert="${p.ca}" tls.authMode="name" tls.permittedPeer=["localhost"] action.resumeInterval="1")`,
  );
  anonSender.send(0, 1);
  await waitUntil(() => (details(anon).connectionOutcomes['tls-failed'] ?? 0) >= 1 || undefined, 'the anonymous handshake counted', 15_000, 20);
  assert.equal(
    (await metricValue(anon.deps.registry, 'gatehouse_syslog_source_connections_total', { source: 'cabinet', transport: 'relp', outcome: 'tls-failed' })) >= 1,
    true,
  );
  assert.ok(
    anonSaid.some((w) => w.includes('no shared cipher') && w.includes('tls.myCert') && w.includes('tls.tlslib="openssl"')),
    `the log names the fix: ${anonSaid.join(' | ')}`,
  );
  // a certificate required (ca) and none given (openssl, no tls.myCert)
  const mtls = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key, ca: p.ca } } });
  const mtlsSaid = warnings(mtls);
  const mtlsSender = await sender(
    t,
    `module(load="omrelp" tls.tlslib="openssl")
action(type="omrelp" target="127.0.0.1" port="${mtls.relp}" tls="on" tls.caCert="${p.ca}" tls.authMode="name" tls.permittedPeer=["localhost"] action.resumeInterval="1")`,
  );
  mtlsSender.send(0, 1);
  await waitUntil(() => (details(mtls).connectionOutcomes['tls-failed'] ?? 0) >= 1 || undefined, 'the certificate-less handshake counted', 15_000, 20);
  assert.ok(
    mtlsSaid.some((w) => w.includes('presented no certificate') && w.includes('tls.myCert')),
    `the log names the fix: ${mtlsSaid.join(' | ')}`,
  );
  assert.equal(details(mtls).messages, 0);
});

test("the sender checks the gateway: GnuTLS refuses a name not in tls.permittedPeer (tls-failed); librelp's OpenSSL code refuses a certificate of another CA but not a wrong name (what docs/syslog-source.md warns of)", {
  skip,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const other = deviceCa(dir, 'other');
  const cases = [
    { lib: 'gnutls', ca: p.ca, peer: 'gateway.elsewhere', own: `tls.myCert="${p.sender.cert}" tls.myPrivKey="${p.sender.key}"`, delivered: false },
    { lib: 'openssl', ca: other.cert, peer: 'localhost', own: '', delivered: false },
    { lib: 'openssl', ca: p.ca, peer: 'gateway.elsewhere', own: '', delivered: true },
  ];
  for (const c of cases) {
    const what = `${c.lib}, caCert ${c.ca === p.ca ? 'right' : 'of another CA'}, permittedPeer ${c.peer}`;
    const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key } } });
    const s = await sender(
      t,
      `module(load="omrelp"${c.lib === 'openssl' ? ' tls.tlslib="openssl"' : ''})
action(type="omrelp" target="127.0.0.1" port="${rig.relp}" tls="on" tls.caCert="${c.ca}" ${c.own} tls.authMode="name" tls.permittedPeer=["${c.peer}"] action.resumeInterval="1")`,
    );
    s.send(0, 1);
    const o = () => details(rig).connectionOutcomes;
    if (c.delivered) await committedN(rig, 1);
    // GnuTLS checks inside the handshake (an alert: tls-failed); librelp's OpenSSL code after it,
    // then closes before its RELP open (accepted, closed by the sender: closed-before-data)
    else
      await waitUntil(
        () =>
          (c.lib === 'gnutls'
            ? (o()['tls-failed'] ?? 0) >= 1
            : (o()['closed-before-data'] ?? 0) >= 1 && (rig.source.status().details as { connections: number }).connections === 0) || undefined,
        `${what}: the sender refusing the gateway's certificate`,
        15_000,
        20,
      );
    assert.equal(details(rig).messages, c.delivered ? 1 : 0, what);
  }
});

test('a plain RELP client on the TLS port (tls-failed) and a TLS client on a plain relp port (tls-on-tcp): closed, counted on relp, said', {
  skip: noOpenssl,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const onTls = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key } } });
  const said = warnings(onTls);
  const plain = await rawTcp(t, onTls.relp);
  plain.write('1 open 85 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n');
  await closed(plain);
  await waitUntil(() => details(onTls).connectionOutcomes['tls-failed'] || undefined, 'tls-failed counted');
  assert.equal(
    await metricValue(onTls.deps.registry, 'gatehouse_syslog_source_connections_total', { source: 'cabinet', transport: 'relp', outcome: 'tls-failed' }),
    1,
  );
  assert.ok(
    said.some((w) => w.includes('a plain RELP sender') && w.includes('tls="on"')),
    `said: ${said.join(' | ')}`,
  );
  assert.equal(details(onTls).messages, 0);

  const plainRelp = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const saidPlain = warnings(plainRelp);
  const wrong = tlsConnect({ port: plainRelp.relp, host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => wrong.destroy());
  wrong.on('error', () => undefined);
  await closed(wrong);
  assert.equal(details(plainRelp).connectionOutcomes['tls-on-tcp'], 1);
  assert.equal(
    await metricValue(plainRelp.deps.registry, 'gatehouse_syslog_source_connections_total', { source: 'cabinet', transport: 'relp', outcome: 'tls-on-tcp' }),
    1,
  );
  assert.ok(
    saidPlain.some((w) => w.includes('relp.tls')),
    `said: ${saidPlain.join(' | ')}`,
  );
});

test('relp.tls with ca: a client certificate from another CA fails the handshake (tls-failed); one of the CA is taken', { skip: noOpenssl }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const other = deviceCa(join(dir), 'other').issue('stranger', '/CN=stranger');
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key, ca: p.ca } } });
  const said = warnings(rig);
  const ca = await readFile(p.ca);
  const stranger = tlsConnect({
    port: rig.relp,
    host: '127.0.0.1',
    servername: 'localhost',
    ca,
    cert: await readFile(other.cert),
    key: await readFile(other.key),
  });
  t.after(() => stranger.destroy());
  stranger.on('error', () => undefined);
  await closed(stranger);
  await waitUntil(() => details(rig).connectionOutcomes['tls-failed'] || undefined, 'tls-failed counted');
  assert.ok(
    said.some((w) => w.includes('no CA in relp.tls.ca signs')),
    `said: ${said.join(' | ')}`,
  );
  const known = tlsConnect({
    port: rig.relp,
    host: '127.0.0.1',
    servername: 'localhost',
    ca,
    cert: await readFile(p.sender.cert),
    key: await readFile(p.sender.key),
  });
  t.after(() => known.destroy());
  await once(known, 'secureConnect');
  assert.equal(details(rig).connectionOutcomes['tls-failed'], 1);
});

test("relp.tls.ca reloaded (SIGHUP's reloadTls): a sender of the new CA is taken, one of the old refused; a ca file broken at the reload is refused and the running one kept", {
  skip: noOpenssl,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-');
  const p = pki(dir);
  const next = deviceCa(dir, 'next');
  const nextSender = next.issue('next-sender', '/CN=next-sender');
  const ca = join(dir, 'senders-ca.pem');
  await copyFile(p.ca, ca);
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key, ca } } });
  const handshake = async (who: { cert: string; key: string }): Promise<boolean> => {
    const s = tlsConnect({
      port: rig.relp,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: await readFile(p.ca),
      cert: await readFile(who.cert),
      key: await readFile(who.key),
    });
    t.after(() => s.destroy());
    s.on('error', () => undefined);
    // TLS 1.3: the client is done before the server checks its certificate; a refusal closes it
    const ok = await new Promise<boolean>((r) => {
      s.once('close', () => r(false));
      s.once('secureConnect', () => s.write('1 open 0\n'));
      s.once('data', () => r(true));
    });
    s.destroy();
    return ok;
  };
  assert.equal(await handshake(p.sender), true, 'a sender of the first CA');
  assert.equal(await handshake(nextSender), false, 'a sender of the next CA, before the reload');
  await copyFile(next.cert, ca);
  const [outcome] = await rig.source.reloadTls();
  assert.equal(outcome!.outcome, 'reloaded');
  assert.equal(outcome!.listener, 'cabinet/relp');
  assert.equal(await handshake(nextSender), true, 'a sender of the next CA, after the reload');
  assert.equal(await handshake(p.sender), false, 'a sender of the first CA, after the reload');
  await copyFile(p.gw.key, ca);
  const [refused] = await rig.source.reloadTls();
  assert.equal(refused!.outcome, 'refused', JSON.stringify(refused));
  assert.equal(await handshake(nextSender), true, 'the running ca kept');
});

const fingerprint = async (port: number, p: Pki): Promise<string> => {
  const s: TLSSocket = tlsConnect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: await readFile(p.ca),
    cert: await readFile(p.sender.cert),
    key: await readFile(p.sender.key),
  });
  s.on('error', () => undefined);
  await once(s, 'secureConnect');
  const f = s.getPeerX509Certificate()!.fingerprint256;
  s.destroy();
  return f;
};

test('SIGHUP: a new certificate written over relp.tls.cert and key is served to new connections; rsyslog started after it sends through', {
  skip,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-gw-');
  const p = pki(dir);
  const [cert, key] = [join(dir, 'served.pem'), join(dir, 'served.key')]; // named relative to the config file below
  await copyFile(p.gw.cert, cert);
  await copyFile(p.gw.key, key);
  const port = await restartablePort(t);
  const gw = await syslogGateway(dir, `{ type: syslog, name: cabinet, relp: { port: ${port}, tls: { cert: served.pem, key: served.key, ca: ${p.ca} } } }`);
  t.after(() => gw.kill9());
  const first = await sender(t, gnutlsAction(p, port));
  first.send(0, 5);
  await waitUntil(async () => ((await archived(gw)).length >= 5 ? true : undefined), 'the first sender through', 20_000, 50);
  assert.equal(await fingerprint(port, p), new X509Certificate(await readFile(p.gw.cert)).fingerprint256);

  const renewed = p.issue('gw2', '/CN=localhost');
  await copyFile(renewed.cert, cert);
  await copyFile(renewed.key, key);
  gw.proc.kill('SIGHUP');
  await waitUntil(
    () => gw.logs.find((l) => l.msg === 'TLS certificate reloaded: new connections get it, connected clients keep theirs' && l.listener === 'cabinet/relp'),
    'the reload logged',
    10_000,
    20,
  );
  assert.equal(await fingerprint(port, p), new X509Certificate(await readFile(renewed.cert)).fingerprint256, 'the new certificate served');
  const second = await sender(t, gnutlsAction(p, port));
  second.send(5, 5);
  first.send(10, 5);
  const got = await waitUntil(
    async () => {
      const g = await archived(gw);
      return missing(g, 15).length === 0 ? g : undefined;
    },
    'both senders through after the reload',
    20_000,
    50,
  );
  assert.ok(got.length >= 15);
});

for (const interrupt of ['kill9', 'stop'] as const)
  test(`omrelp over TLS: the gateway ${interrupt === 'kill9' ? 'killed -9' : 'stopped'} mid-flow and started again, every message sent arrives`, {
    skip,
  }, async (t) => {
    const dir = await tempDir(t, 'gatehouse-relp-tls-pki-');
    const p = pki(dir);
    const r = await flowAcrossRestart(t, {
      syslog: `{ type: syslog, name: cabinet, relp: { port: \${port}, tls: { cert: ${p.gw.cert}, key: ${p.gw.key}, ca: ${p.ca} } } }`,
      action: gnutlsAction(p, '${port}'),
      interrupt,
    });
    assert.ok(r.records >= r.total);
    t.diagnostic(
      `${r.total} sent (${r.before} before the ${interrupt}), ${r.records} records (${r.records - r.total} sent twice: answers the interruption cut off)`,
    );
  });

test('check-config: relp.tls files missing named by key; a cert and key of two pairs is GH_SYSLOG_SOURCE_TLS naming <source>/relp; a good one passes; a ca without a certificate fails the start', {
  skip: noOpenssl,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-tls-cc-');
  const p = pki(dir);
  const base = 'broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }\nadmin: { enabled: false }\nsources:\n';
  const missing = await checkConfigText(
    t,
    `${base}  - { type: syslog, name: lan, relp: { tls: { cert: ${join(dir, 'no.crt')}, key: ${join(dir, 'no.key')}, ca: ${join(dir, 'no-ca.pem')} } } }\n`,
  );
  assert.notEqual(missing.code, 0);
  for (const k of ['sources.0.relp.tls.cert', 'sources.0.relp.tls.key', 'sources.0.relp.tls.ca'])
    assert.match(missing.out + missing.err, new RegExp(k.replaceAll('.', '\\.')), k);
  const mixed = await checkConfigText(t, `${base}  - { type: syslog, name: lan, relp: { tls: { cert: ${p.gw.cert}, key: ${p.sender.key} } } }\n`);
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.out + mixed.err, /cannot load TLS files of lan\/relp/);
  const good = await checkConfigText(t, `${base}  - { type: syslog, name: lan, relp: { tls: { cert: ${p.gw.cert}, key: ${p.gw.key}, ca: ${p.ca} } } }\n`);
  assert.equal(good.code, 0, good.out + good.err);
  const noCa = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0, tls: { cert: p.gw.cert, key: p.gw.key, ca: p.gw.key } } }).catch(
    (e: unknown) => e,
  );
  assert.match(String(noCa), /holds no PEM certificate/);
});
