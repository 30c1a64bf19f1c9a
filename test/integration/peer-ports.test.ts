// The ports of test peers that restart on the port they had (test/helpers/ports.ts): outside the
// ephemeral range that listen(0) hands out, claimed so that no other test process picks one, and
// a first start that finds its port taken moves to another. (Before, the peers listened on a
// port of the ephemeral range: a test running alongside could be handed it while the peer was
// down, and its restart failed.) freePort() hands out those ports too (before, the port of a
// listen(0) closed again, which a test alongside could take before the caller listened on it).
// mosquitto and nats-server are the Debian packages of those names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, needBinary } from '../helpers/index.js';
import { listenOnLoopback, startKinesalite, startMosquitto, startNats } from '../helpers/peers.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { modbusTcpPeer } from '../helpers/industrial.js';
import { bindable, claimPort, onRestartablePort, releasePort, restartablePort } from '../helpers/ports.js';

const ports = join(import.meta.dirname, '..', 'helpers', 'ports.js');

function ephemeral(): [number, number] {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return [low!, high!];
}

function outsideEphemeral(port: number, what: string): void {
  const [low, high] = ephemeral();
  assert.ok(port < low || port > high, `${what} listens on ${port}, inside the ephemeral range ${low}-${high} that listen(0) hands out`);
}

/** Whether another process can claim `port` now (it exits at once, which releases a claim it made). */
function claimFromAnotherProcess(port: number): boolean {
  const code = `import { claimPort } from ${JSON.stringify(pathToFileURL(ports).href)}; process.stdout.write(String(claimPort(${port})));`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }) === 'true';
}

test('restartable peers listen outside the ephemeral range', async (t) => {
  outsideEphemeral((await startKinesalite(t)).port, 'kinesalite');
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  outsideEphemeral(rx.port, 'the Firehose receiver');
  outsideEphemeral((await modbusTcpPeer(t)).port, 'the Modbus TCP peer');
});

test('mosquitto and nats-server peers listen outside the ephemeral range, and up() again on their port', {
  skip: needBinary('mosquitto', 'mosquitto') ?? needBinary('nats-server', 'nats-server'),
}, async (t) => {
  for (const peer of [await startMosquitto(t), await startNats(t)]) {
    outsideEphemeral(peer.port, peer.url);
    await peer.restart();
  }
});

test('a port claimed by one test process is not claimed by another until it is released', async (t) => {
  const port = await restartablePort(t);
  assert.equal(claimFromAnotherProcess(port), false, 'claimed here: refused to another process');
  releasePort(port);
  assert.equal(claimFromAnotherProcess(port), true, 'released: another process claims it (and releases it at its exit)');
  // A claim left by a process that is gone (killed before it could release it) is taken over.
  const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
  writeFileSync(join(tmpdir(), 'gatehouse-test-ports', String(port)), String(dead));
  assert.equal(claimPort(port), true, 'the stale claim is taken over');
  releasePort(port);
});

test('a first start that finds its port taken starts on another port', async (t) => {
  const blocker = createServer();
  const server = createServer();
  t.after(() => {
    blocker.close();
    server.close();
  });
  const tried: number[] = [];
  const port = await onRestartablePort(t, async (p) => {
    tried.push(p);
    if (tried.length === 1) await listenOnLoopback(blocker, p); // something else took it after the bind check
    await listenOnLoopback(server, p);
    return p;
  });
  assert.equal(tried.length, 2, `ports tried: ${tried.join(', ')}`);
  assert.equal(port, tried[1]);
  assert.notEqual(port, tried[0]);
});

test('freePort: a port outside the ephemeral range where nothing listens, claimed until its test ends', async (t) => {
  let port = 0;
  await t.test('a test that takes a port', async (st) => {
    port = await freePort(st);
    outsideEphemeral(port, 'a port from freePort()');
    assert.equal(await bindable(port), true, 'nothing listens on it');
    assert.equal(claimFromAnotherProcess(port), false, 'claimed here: refused to another test process');
  });
  assert.equal(claimFromAnotherProcess(port), true, 'released when its test ended');
  // Without a test context: claimed until the process exits.
  const kept = await freePort();
  outsideEphemeral(kept, 'a port from freePort() with no test context');
  assert.equal(claimFromAnotherProcess(kept), false, 'claimed until this process exits');
  releasePort(kept);
});
