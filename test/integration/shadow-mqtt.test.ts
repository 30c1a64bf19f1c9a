// The local Device Shadow service (gateway/shadow/, docs/shadows.md) with real mqtt.js clients on
// the real embedded broker of an in-process gateway: the exchanges of AWS's developer guide
// ("Interacting with shadows": an app sets desired, the device gets the delta, reports, gets),
// each answer's fields checked against the documented shapes, over MQTT 3.1.1 and 5, classic and
// named shadows; null deletes, versions, clientToken, delete and a new document after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue } from '../helpers/index.js';
import { assertSeconds, device, startShadowGateway } from '../helpers/shadow.js';

for (const protocolVersion of [4, 5] as const) {
  for (const named of [false, true]) {
    const what = `MQTT ${protocolVersion === 5 ? 5 : '3.1.1'}, ${named ? 'a named shadow' : 'the classic shadow'}`;
    test(`${what}: desired from an app, the delta to the device, reported back, get: every answer as AWS documents it`, async (t) => {
      const { url, registry } = await startShadowGateway(t);
      const prefix = named ? '$aws/things/lamp1/shadow/name/config' : '$aws/things/lamp1/shadow';
      const app = await device(t, url, { protocolVersion, clientId: 'app' });
      const lamp = await device(t, url, { protocolVersion, clientId: 'lamp1' });
      await app.c.subscribeAsync(`${prefix}/update/+`, { qos: 1 });
      await app.c.subscribeAsync(`${prefix}/update/documents`, { qos: 1 });
      await lamp.c.subscribeAsync([`${prefix}/update/delta`, `${prefix}/get/+`], { qos: 1 });

      // 1. the app asks for a colour (AWS's "request state document", with a clientToken)
      await app.send(`${prefix}/update`, { state: { desired: { color: 'green', brightness: 80 } }, clientToken: 'app-1' });
      const accepted = await app.next(`${prefix}/update/accepted`);
      assert.deepEqual(Object.keys(accepted).sort(), ['clientToken', 'metadata', 'state', 'timestamp', 'version']);
      assert.deepEqual(accepted.state, { desired: { color: 'green', brightness: 80 } });
      assert.equal(accepted.version, 1);
      assert.equal(accepted.clientToken, 'app-1');
      assertSeconds(accepted.timestamp, 'accepted.timestamp');
      const meta = accepted.metadata as { desired: Record<string, { timestamp: number }> };
      assert.deepEqual(Object.keys(meta.desired).sort(), ['brightness', 'color']);
      assertSeconds(meta.desired.color!.timestamp, 'metadata.desired.color.timestamp');

      // 2. the device gets the delta: desired where it differs from reported (none yet: all of it)
      const delta = await lamp.next(`${prefix}/update/delta`);
      assert.deepEqual(delta.state, { color: 'green', brightness: 80 });
      assert.equal(delta.version, 1);
      assert.deepEqual(Object.keys(delta.metadata as object).sort(), ['brightness', 'color']);
      assert.equal(delta.clientToken, 'app-1');
      const docs1 = await app.next(`${prefix}/update/documents`);
      assert.equal(docs1.previous, undefined, 'a new shadow has no previous document');
      assert.deepEqual((docs1.current as { state: object; version: number }).state, { desired: { color: 'green', brightness: 80 } });
      assert.equal((docs1.current as { version: number }).version, 1);

      // 3. the device reports the colour it took, not yet the brightness
      await lamp.send(`${prefix}/update`, { state: { reported: { color: 'green', brightness: 40 } } });
      const acc2 = await app.next(`${prefix}/update/accepted`);
      assert.equal(acc2.version, 2);
      assert.equal(acc2.clientToken, undefined, 'no clientToken sent, none answered');
      const docs2 = await app.next(`${prefix}/update/documents`);
      assert.equal((docs2.previous as { version: number }).version, 1);
      assert.deepEqual((docs2.current as { state: object }).state, {
        desired: { color: 'green', brightness: 80 },
        reported: { color: 'green', brightness: 40 },
      });

      // 4. get: state with the delta that remains, metadata of both sides, version
      await lamp.send(`${prefix}/get`, { clientToken: 'get-1' });
      const got = await lamp.next(`${prefix}/get/accepted`);
      assert.deepEqual(got.state, {
        desired: { color: 'green', brightness: 80 },
        reported: { color: 'green', brightness: 40 },
        delta: { brightness: 80 },
      });
      assert.deepEqual(Object.keys(got.metadata as object).sort(), ['desired', 'reported']);
      assert.equal(got.version, 2);
      assert.equal(got.clientToken, 'get-1');
      assertSeconds(got.timestamp, 'get.timestamp');

      // 5. reported catches up: no delta left, and a reported-only update publishes no delta
      await lamp.send(`${prefix}/update`, { state: { reported: { brightness: 80 } } });
      await app.next(`${prefix}/update/accepted`);
      await lamp.send(`${prefix}/get`, '');
      const got2 = await lamp.next(`${prefix}/get/accepted`);
      assert.equal((got2.state as { delta?: object }).delta, undefined);
      assert.equal(lamp.got.filter(([tp]) => tp === `${prefix}/update/delta`).length, 1, 'one delta: only the desired update made one');

      assert.equal(await metricValue(registry, 'gatehouse_shadow_requests_total', { operation: 'update', outcome: 'accepted' }), 3);
      assert.equal(await metricValue(registry, 'gatehouse_shadows'), 1);
    });
  }
}

test('null deletes a key (and desired: null all of desired), objects merge, arrays replace; version locks; delete, 404, and a new document continuing the version', async (t) => {
  const { url } = await startShadowGateway(t);
  const p = '$aws/things/pump-7/shadow';
  const d = await device(t, url, { clientId: 'pump-7' });
  await d.c.subscribeAsync([`${p}/update/+`, `${p}/get/+`, `${p}/delete/+`], { qos: 1 });
  await d.send(`${p}/update`, { state: { reported: { mode: 'auto', limits: { low: 1, high: 9 }, valves: [1, 2, 3] }, desired: { mode: 'auto' } } });
  assert.equal((await d.next(`${p}/update/accepted`)).version, 1);
  await d.send(`${p}/update`, { state: { reported: { limits: { low: null, max: 12 }, valves: [4] } }, version: 1 });
  const acc = await d.next(`${p}/update/accepted`);
  assert.equal(acc.version, 2);
  assert.deepEqual(acc.state, { reported: { limits: { low: null, max: 12 }, valves: [4] } }, 'accepted echoes the request, nulls included');
  assert.deepEqual((acc.metadata as { reported: { valves: unknown } }).reported.valves, [{ timestamp: acc.timestamp }], "an array's metadata: one per element");
  await d.send(`${p}/get`, '');
  const g = await d.next(`${p}/get/accepted`);
  assert.deepEqual((g.state as { reported: object }).reported, { mode: 'auto', limits: { high: 9, max: 12 }, valves: [4] });
  const limitsMeta = (g.metadata as { reported: { limits: Record<string, { timestamp: number }> } }).reported.limits;
  assert.deepEqual(Object.keys(limitsMeta).sort(), ['high', 'max'], 'the deleted key left the metadata too');
  assert.equal(limitsMeta.max!.timestamp, acc.timestamp);

  // a stale version: 409, the document unchanged
  await d.send(`${p}/update`, { state: { reported: { mode: 'manual' } }, version: 1, clientToken: 'stale' });
  const rej = await d.next(`${p}/update/rejected`);
  assertSeconds(rej.timestamp, 'rejected.timestamp');
  assert.deepEqual({ ...rej, timestamp: 0 }, { code: 409, message: 'Version conflict', timestamp: 0, clientToken: 'stale' });

  // desired: null removes desired altogether
  await d.send(`${p}/update`, { state: { desired: null } });
  assert.equal((await d.next(`${p}/update/accepted`)).version, 3);
  await d.send(`${p}/get`, '');
  assert.equal(((await d.next(`${p}/get/accepted`)).state as { desired?: object }).desired, undefined);

  // delete: answered with the deleted version; then get and delete are 404s
  await d.send(`${p}/delete`, { clientToken: 'del' });
  assert.deepEqual(Object.keys(await d.next(`${p}/delete/accepted`)).sort(), ['clientToken', 'timestamp', 'version']);
  await d.send(`${p}/get`, '');
  const nf = await d.next(`${p}/get/rejected`);
  assert.equal(nf.code, 404);
  assert.equal(nf.message, "No shadow exists with name: 'pump-7'");
  await d.send(`${p}/delete`, '');
  assert.equal((await d.next(`${p}/delete/rejected`)).code, 404);
  // within 48 hours a new document continues the deleted one's version (AWS)
  await d.send(`${p}/update`, { state: { reported: { mode: 'auto' } } });
  assert.equal((await d.next(`${p}/update/accepted`)).version, 4);
  const d2 = await device(t, url, { clientId: 'watcher' });
  await d2.c.subscribeAsync('$aws/things/pump-7/shadow/name/absent/get/rejected', { qos: 1 });
  await d.send('$aws/things/pump-7/shadow/name/absent/get', '');
  assert.equal((await d2.next('$aws/things/pump-7/shadow/name/absent/get/rejected')).message, "No shadow exists with name: 'pump-7~absent'");
});

test("the developer guide's 'Using shadows' example: an object in desired is compared member by member with reported", async (t) => {
  const { url } = await startShadowGateway(t);
  const p = '$aws/things/car/shadow';
  const d = await device(t, url, { clientId: 'car' });
  await d.c.subscribeAsync([`${p}/update/delta`, `${p}/update/accepted`, `${p}/get/accepted`], { qos: 1 });
  // initial state, then the update message of the guide
  await d.send(`${p}/update`, { state: { reported: { color: { r: 255, g: 255, b: 0 } } } });
  await d.next(`${p}/update/accepted`);
  await d.send(`${p}/update`, { state: { desired: { color: { r: 10 }, engine: 'ON' } } });
  // "The device receives the desired state on the /update/delta topic"
  assert.deepEqual((await d.next(`${p}/update/delta`)).state, { color: { r: 10 }, engine: 'ON' });
  // the device applies it and reports: nothing left in the delta
  await d.send(`${p}/update`, { state: { reported: { color: { r: 10 }, engine: 'ON' } } });
  await d.next(`${p}/update/accepted`);
  await d.next(`${p}/update/accepted`);
  await d.send(`${p}/get`, '');
  const got = await d.next(`${p}/get/accepted`);
  assert.deepEqual(got.state, { desired: { color: { r: 10 }, engine: 'ON' }, reported: { color: { r: 10, g: 255, b: 0 }, engine: 'ON' } });
  assert.equal(got.version, 3);
});
