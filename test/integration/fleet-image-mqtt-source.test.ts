// A fleet flashed from one SD card image, with an MQTT source (commands sent down from the office):
// one "golden" gateway runs once, stops, and its data dir is copied to two more boxes that start at
// once with the same config (gatewayId raspberrypi). Real in-process gateways, real mosquitto, real
// mqtt.js publisher. Each clone is another machine through a test double of its machine fingerprint
// (GatewayOptions.machineFingerprint: there is one machine here), so each makes its own
// installation id (as in fleet-image.test.ts).
// - clientId src-${installationId}: each clone has its own persistent session (clean: false) and
//   gets every command published to the topic, connected once;
// - a fixed clientId: each clone says at start that every board shares it (and why: the broker
//   splits the messages between them), with the fix.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Gateway } from '../../gateway/runtime/index.js';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { machine, startSite, type Site } from '../helpers/fleet.js';
import { startMosquitto } from '../helpers/peers.js';

const skip = needBinary('mosquitto', 'mosquitto');

/** The source's status details once it is connected and subscribed. */
async function subscribedAs(gw: Gateway): Promise<string> {
  const s = await waitUntil(
    () => {
      const st = gw.sources.status().find((x) => x.name === 'office');
      const subs = st?.details?.subscriptions as Array<{ qos: number | null }> | undefined;
      return st?.state === 'connected' && subs?.every((x) => x.qos === 1) ? st : undefined;
    },
    'the MQTT source subscribed',
    15_000,
  );
  return String(s.details!.clientId);
}

async function overviewId(gw: Gateway): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/overview`);
  return ((await r.json()) as { installationId: string }).installationId;
}

/** Payloads the rules stored in `archive` (no exporter: they stay there). */
async function stored(gw: Gateway): Promise<string[]> {
  return (await gw.streams.read('archive', 1, { limit: 1000 })).map((r) => r.payload.toString());
}

async function clonesOf(t: TestContext, brokerUrl: string, clientId: string): Promise<Site[]> {
  // The operator's one config, as written once for the image (the host name left as gatewayId's default: set here).
  const configIn = async (dir: string): Promise<string> => {
    const file = join(dir, 'gatehouse.yaml');
    const sources = [{ type: 'mqtt', name: 'office', url: brokerUrl, clientId, reconnectMinMs: 100, topics: [{ filter: 'cmd/#' }] }];
    await writeFile(file, `gatewayId: raspberrypi\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nsources: ${JSON.stringify(sources)}\n`);
    return file;
  };
  const golden = await tempDir(t);
  const goldenSite = await startSite(t, await configIn(golden), machine(1));
  await subscribedAs(goldenSite.gw);
  await goldenSite.gw.stop();
  const dirs: string[] = [];
  for (let n = 0; n < 2; n++) {
    const dir = await tempDir(t);
    await cp(join(golden, 'data'), join(dir, 'data'), { recursive: true });
    dirs.push(dir);
  }
  // Powered on together.
  return Promise.all(dirs.map(async (dir, i) => startSite(t, await configIn(dir), machine(i + 2))));
}

test('a fleet from one SD card image with an MQTT source whose clientId is src-${installationId}: each clone subscribes in a session of its own and gets every command published to the topic', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const broker = await startMosquitto(t);
  const sites = await clonesOf(t, broker.url, 'src-${installationId}');
  const ids = await Promise.all(sites.map((s) => overviewId(s.gw)));
  assert.equal(new Set(ids).size, 2, `each clone makes its own installation id: ${ids.join(', ')}`);
  const clientIds = await Promise.all(sites.map((s) => subscribedAs(s.gw)));
  assert.deepEqual(
    clientIds,
    ids.map((id) => `src-${id}`),
  );

  const office = await mqtt.connectAsync(broker.url, { clientId: 'office', clean: true, reconnectPeriod: 0 });
  t.after(() => office.endAsync());
  const commands = Array.from({ length: 30 }, (_, k) => `cmd-${k}`);
  for (const c of commands) await office.publishAsync('cmd/all', c, { qos: 1 });

  for (const [i, s] of sites.entries()) {
    await waitUntil(async () => (await stored(s.gw)).length >= commands.length || undefined, `clone ${i} stored every command`, 15_000, 20);
    assert.deepEqual((await stored(s.gw)).sort(), [...commands].sort(), `clone ${i}`);
    // One connection each, kept: no session taken from the other.
    const connects = s.lines.filter((l) => l.msg === 'MQTT source connected');
    assert.deepEqual(
      connects.map((l) => l.clientId),
      [clientIds[i]],
      `clone ${i} connected ${connects.length} times`,
    );
    assert.equal(s.lines.filter((l) => /names no board/.test(l.msg)).length, 0, 'no warning of a shared client id');
  }
});

test('a fleet from one SD card image with an MQTT source whose clientId is fixed: each clone says at start that every board flashed from the image shares it, with the fix', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const broker = await startMosquitto(t);
  const sites = await clonesOf(t, broker.url, 'site1-commands');
  for (const s of sites) {
    const said = s.lines.filter((l) => /names no board/.test(l.msg));
    assert.equal(said.length, 1);
    assert.equal(said[0]!.level, 40);
    assert.match(said[0]!.msg, /MQTT source 'office': .*clientId 'site1-commands' names no board: .*the broker splits the messages queued for it between them/);
    assert.match(said[0]!.fix ?? '', /src-\$\{installationId\}/);
  }
});
