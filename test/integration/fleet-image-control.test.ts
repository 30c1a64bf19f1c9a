// A fleet flashed from one SD card image, with a control broker: one "golden" gateway runs once,
// stops, and its data dir is copied to two more boxes that start at once with the same config
// (gatewayId raspberrypi, control.upstream.clientId gatehouse-control-${installationId}). Real
// in-process gateways, real mosquitto, a real mqtt.js office client. Each clone is another machine
// through a test double of its machine fingerprint (GatewayOptions.machineFingerprint: there is one
// machine here), so each makes its own installation id (as in fleet-image.test.ts).
// Each clone connects once, in a session of its own (no session taken from the other: both get an
// update published to their shared gatewayId), and an update published while one is down waits in
// that one's session and is applied when it comes back. The control topics stay shared (per
// gatewayId): both apply what is sent to raspberrypi (docs/remote-control.md, A fleet from one image).
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

async function configIn(dir: string, brokerUrl: string): Promise<string> {
  const file = join(dir, 'gatehouse.yaml');
  const control = { allowUnsigned: true, upstream: { url: brokerUrl, clientId: 'gatehouse-control-${installationId}', reconnectMinMs: 100 } };
  await writeFile(file, `gatewayId: raspberrypi\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol: ${JSON.stringify(control)}\n`);
  return file;
}

async function connected(gw: Gateway): Promise<void> {
  await waitUntil(() => gw.control.channel.connected() || undefined, 'the control channel connected', 15_000);
}

async function applied(gw: Gateway, version: number, what: string): Promise<void> {
  await waitUntil(() => gw.rules.activeDefinition()?.version === version || undefined, `${what} applied version ${version}`, 15_000, 20);
}

async function overviewId(gw: Gateway): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/overview`);
  return ((await r.json()) as { installationId: string }).installationId;
}

const ruleSet = (version: number): string =>
  JSON.stringify({ version, rules: [{ name: `keep${version}`, sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] });

async function clones(t: TestContext, brokerUrl: string): Promise<{ sites: Site[]; dirs: string[] }> {
  const golden = await tempDir(t);
  const goldenSite = await startSite(t, await configIn(golden, brokerUrl), machine(1));
  await connected(goldenSite.gw);
  await goldenSite.gw.stop();
  const dirs: string[] = [];
  for (let n = 0; n < 2; n++) {
    const dir = await tempDir(t);
    await cp(join(golden, 'data'), join(dir, 'data'), { recursive: true });
    dirs.push(dir);
  }
  // Powered on together.
  const sites = await Promise.all(dirs.map(async (dir, i) => startSite(t, await configIn(dir, brokerUrl), machine(i + 2))));
  return { sites, dirs };
}

test('a fleet from one SD card image with control.upstream.clientId gatehouse-control-${installationId}: each clone connects once in a session of its own, both get an update, and one sent while a clone is down waits in its session', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const broker = await startMosquitto(t);
  const { sites, dirs } = await clones(t, broker.url);
  for (const s of sites) await connected(s.gw);
  const ids = await Promise.all(sites.map((s) => overviewId(s.gw)));
  assert.equal(new Set(ids).size, 2, `each clone makes its own installation id: ${ids.join(', ')}`);
  for (const s of sites)
    assert.equal(s.lines.filter((l) => /installation id .* replaced by .*another machine/.test(l.msg)).length, 1, 'made anew as on another machine');

  const office = await mqtt.connectAsync(broker.url, { clientId: 'office', clean: true, reconnectPeriod: 0 });
  t.after(() => office.endAsync());
  await office.publishAsync('gatehouse/raspberrypi/rules/set', ruleSet(2), { qos: 1 });
  // One session each: both get the update (in one shared session only the clone holding it would).
  for (const [i, s] of sites.entries()) await applied(s.gw, 2, `clone ${i}`);
  for (const [i, s] of sites.entries()) {
    const connects = s.lines.filter((l) => l.msg === 'control channel connected');
    assert.deepEqual(
      connects.map((l) => l.clientId),
      [`gatehouse-control-${ids[i]}`],
      `clone ${i} connected once, as its own client id`,
    );
    assert.equal(s.lines.filter((l) => /closes the connection soon after each connect/.test(l.msg)).length, 0);
    // The topics are still shared: the start says so (gatewayId), without the session clause.
    const warned = s.lines.filter((l) => /gatewayId 'raspberrypi' is the host name an OS image gives every board/.test(l.msg));
    assert.equal(warned.length, 1);
    assert.match(warned[0]!.msg, /their control sessions are apart \(client id 'gatehouse-control-\$\{installationId\}'\)/);
  }

  // Clone 0 down; the office sends version 3; clone 1 applies it, and clone 0 finds it in its own
  // session when it is back (with one shared session, clone 1 would have taken it).
  await sites[0]!.gw.stop();
  await office.publishAsync('gatehouse/raspberrypi/rules/set', ruleSet(3), { qos: 1 });
  await applied(sites[1]!.gw, 3, 'clone 1');
  const back = await startSite(t, await configIn(dirs[0]!, broker.url), machine(2));
  await applied(back.gw, 3, 'clone 0, back');
  assert.equal(back.lines.filter((l) => /installation id/.test(l.msg)).length, 0, 'no new installation id at the restart');
  assert.equal(await overviewId(back.gw), ids[0], 'the same board keeps its installation id');
  assert.deepEqual(
    back.lines.filter((l) => l.msg === 'control channel connected').map((l) => l.clientId),
    [`gatehouse-control-${ids[0]}`],
  );
});
