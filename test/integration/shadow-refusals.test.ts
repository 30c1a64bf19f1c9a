// The local Device Shadow service refusing, bounded and guarded, on an in-process gateway with
// real mqtt.js clients: every rejected case with AWS's code and message, the limits (maxShadows,
// maxStateBytes) with their counter, garbage payloads (answered, never a crash), the broker's
// ACL (a device reaches only its own shadow), forged answers refused; and the rules: one on
// update/accepted sees the service's answers, get_thing_shadow() reads the document, a rule's
// republish to .../shadow/update updates a shadow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, waitUntil } from '../helpers/index.js';
import { mulberry32 } from '../helpers/prng.js';
import { device, startShadowGateway } from '../helpers/shadow.js';
import type { Gateway } from '../../gateway/runtime/index.js';

/** The document get_thing_shadow() would read (the gateway's shadows are on in every test here). */
function shadowDoc(gw: Gateway, thing: string): { state: object; version: number } | undefined {
  assert.ok(gw.shadows, 'the shadow service runs');
  return gw.shadows.lookup.get(thing, undefined) as { state: object; version: number } | undefined;
}

const deep = (n: number): object => (n === 0 ? { leaf: 1 } : { a: deep(n - 1) });

test('each malformed or refused update is answered on update/rejected with AWS code and message (clientToken echoed once valid)', async (t) => {
  const { url, registry } = await startShadowGateway(t, 'shadows: { maxShadows: 2 }\n');
  const d = await device(t, url, { clientId: 'probe' });
  const p = '$aws/things/probe/shadow';
  await d.c.subscribeAsync([`${p}/update/+`, '$aws/things/+/shadow/update/rejected', `${p}/name/+/update/+`], { qos: 1 });
  const cases: Array<[string, string | Buffer, number, string]> = [
    ['not JSON', 'garbage', 400, 'Invalid JSON'],
    ['a JSON array', '[1,2]', 400, 'Invalid JSON'],
    ['no state', '{"clientToken":"c1"}', 400, 'Missing required node: state'],
    ['state a number', '{"state":5}', 400, 'State node must be an object'],
    ['desired a string', '{"state":{"desired":"on"}}', 400, 'Desired node must be an object'],
    ['reported an array', '{"state":{"reported":[1]}}', 400, 'Reported node must be an object'],
    ['delta written by a client', '{"state":{"delta":{"a":1}}}', 400, 'State contains an invalid node'],
    ['7 levels of nesting', JSON.stringify({ state: { reported: deep(6) } }), 400, 'JSON contains too many levels of nesting; maximum is 6'],
    ['a version that is a string', '{"state":{"reported":{}},"version":"1"}', 400, 'Invalid version'],
    ['a clientToken of 65 bytes', JSON.stringify({ state: { reported: {} }, clientToken: 'x'.repeat(65) }), 400, 'Invalid clientToken'],
    ['a state over 8 KB', JSON.stringify({ state: { reported: { blob: 'x'.repeat(8200) } } }), 413, 'The payload exceeds the maximum size allowed'],
    ['bytes that are no UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 415, 'Unsupported documented encoding; supported encoding is UTF-8'],
  ];
  for (const [what, payload, code, message] of cases) {
    await d.send(`${p}/update`, payload);
    const r = await d.next(`${p}/update/rejected`);
    assert.equal(r.code, code, what);
    assert.equal(r.message, message, what);
  }
  // the clientToken of a request refused past its parse is echoed
  await d.send(`${p}/update`, '{"state":{"desired":7},"clientToken":"tok"}');
  assert.equal((await d.next(`${p}/update/rejected`)).clientToken, 'tok');
  // six levels are allowed
  await d.send(`${p}/update`, { state: { reported: deep(5) } });
  assert.equal((await d.next(`${p}/update/accepted`)).version, 1);
  // names as AWS checks them
  await d.send('$aws/things/bad.name/shadow/update', { state: { reported: {} } });
  assert.equal((await d.next('$aws/things/bad.name/shadow/update/rejected')).message, 'Invalid thing name');
  await d.send(`${p}/name/${'n'.repeat(65)}/update`, { state: { reported: {} } });
  assert.equal((await d.next(`${p}/name/${'n'.repeat(65)}/update/rejected`)).message, 'Invalid shadow name');
  // maxShadows 2: a second shadow fits, a third is refused (429), an update of a kept one is not
  await d.send(`${p}/name/second/update`, { state: { reported: { n: 2 } } });
  await waitUntil(() => d.got.some(([tp]) => tp === `${p}/name/second/update/accepted`), 'the second shadow accepted');
  await d.send(`${p}/name/third/update`, { state: { reported: { n: 3 } } });
  const full = await d.next(`${p}/name/third/update/rejected`);
  assert.equal(full.code, 429);
  assert.match(String(full.message), /shadows\.maxShadows/);
  await d.send(`${p}/update`, { state: { reported: { still: true } } });
  assert.equal((await d.next(`${p}/update/accepted`)).version, 2);
  assert.equal(await metricValue(registry, 'gatehouse_shadow_rejections_total', { code: '400' }), 13);
  assert.equal(await metricValue(registry, 'gatehouse_shadow_rejections_total', { code: '413' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_shadow_rejections_total', { code: '415' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_shadow_rejections_total', { code: '429' }), 1);
  assert.equal(await metricValue(registry, 'gatehouse_shadows'), 2);
});

test('garbage on every request topic: each answered, the gateway goes on, the shadow unharmed', async (t) => {
  const { url, gw } = await startShadowGateway(t);
  const d = await device(t, url, { clientId: 'fuzz' });
  const p = '$aws/things/fuzz/shadow';
  await d.c.subscribeAsync(`${p}/+/+`, { qos: 1 });
  await d.send(`${p}/update`, { state: { reported: { ok: 1 } } });
  await d.next(`${p}/update/accepted`);
  const rnd = mulberry32(Number(process.env.FUZZ_SEED ?? 7));
  const ops = ['update', 'get', 'delete'];
  let sent = 0;
  for (let i = 0; i < 150; i++) {
    const op = ops[i % 3]!;
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    // a delete of garbage that parses as JSON would delete it: only garbage that is no JSON object
    let obj = false;
    try {
      const v: unknown = JSON.parse(bytes.toString('utf8'));
      obj = typeof v === 'object' && v !== null && !Array.isArray(v);
    } catch {}
    if (obj) continue;
    await d.send(`${p}/${op}`, bytes);
    sent++;
  }
  await waitUntil(() => d.got.filter(([tp]) => tp.endsWith('/rejected')).length >= sent, `${sent} rejections`, 10_000);
  assert.equal(d.got.filter(([tp]) => tp.endsWith('/accepted')).length, 1, 'nothing but the first update accepted');
  assert.deepEqual(shadowDoc(gw, 'fuzz')?.state, { reported: { ok: 1 } });
});

test("the broker's ACL applies: a device allowed $aws/things/%c/shadow/# reaches its own shadow only; answers cannot be forged", async (t) => {
  const { url, gw, registry } = await startShadowGateway(t, "broker:\n  acl:\n    patterns: [{ topic: '$aws/things/%c/shadow/#', access: readwrite }]\n");
  const a = await device(t, url, { clientId: 'lampA', protocolVersion: 5 });
  const b = await device(t, url, { clientId: 'lampB', protocolVersion: 5 });
  await a.c.subscribeAsync('$aws/things/lampA/shadow/update/accepted', { qos: 1 });
  await a.send('$aws/things/lampA/shadow/update', { state: { reported: { on: true } } });
  await a.next('$aws/things/lampA/shadow/update/accepted');
  // lampB may neither read lampA's answers nor change or get its shadow
  await assert.rejects(b.c.subscribeAsync('$aws/things/lampA/shadow/#', { qos: 1 }), /Unspecified error/, 'SUBACK 0x80 for another thing');
  await assert.rejects(b.send('$aws/things/lampA/shadow/update', { state: { desired: { on: false } } }), /0x87|not authori[sz]ed|135/i);
  await assert.rejects(b.send('$aws/things/lampA/shadow/delete', ''), /0x87|not authori[sz]ed|135/i);
  // nor forge an answer on its own topics (only the service publishes there)
  await b.c.subscribeAsync('$aws/things/lampB/shadow/update/delta', { qos: 1 });
  await assert.rejects(b.send('$aws/things/lampB/shadow/update/delta', { state: { on: true } }), /0x87|not authori[sz]ed|135/i);
  assert.equal(b.got.length, 0);
  assert.equal(await metricValue(registry, 'gatehouse_mqtt_acl_denied_total', { action: 'publish' }), 3, 'two outside the ACL, one forged answer');
  assert.deepEqual(shadowDoc(gw, 'lampA')?.state, { reported: { on: true } });
  assert.equal(shadowDoc(gw, 'lampA')?.version, 1);
});

test('rules: one on update/accepted sees the answers, get_thing_shadow() reads the document (also named), a republish to .../shadow/update updates a shadow', async (t) => {
  const rules = `rules:
  version: 1
  rules:
    - name: on_accepted
      sql: "SELECT state.reported.temp AS temp, topic(3) AS thing FROM '$aws/things/+/shadow/update/accepted'"
      actions: [{ republish: { topic: 'seen/accepted' } }]
    - name: enrich
      sql: "SELECT temp, get_thing_shadow(topic(2), 'arn:aws:iam::123456789012:role/shadow').state.desired.limit AS limit, get_thing_shadow(topic(2), 'cfg', 'arn:aws:iam::123456789012:role/shadow').state.desired.unit AS unit, get_thing_shadow('nobody', 'arn:aws:iam::123456789012:role/shadow') AS none FROM 'readings/+'"
      actions: [{ republish: { topic: 'seen/enriched' } }]
    - name: mirror
      sql: "SELECT {'reported': {'temp': temp}} AS state FROM 'mirror/+'"
      actions: [{ republish: { topic: '$$aws/things/\${topic(2)}/shadow/update', qos: 1 } }]
`;
  const { url, gw } = await startShadowGateway(t, rules);
  const d = await device(t, url, { clientId: 'oven' });
  await d.c.subscribeAsync(['seen/+', '$aws/things/oven/shadow/name/mirror/update/accepted', '$aws/things/oven2/shadow/update/+'], { qos: 1 });
  await d.send('$aws/things/oven/shadow/update', { state: { desired: { limit: 220 }, reported: { temp: 20 } } });
  assert.deepEqual(await d.next('seen/accepted'), { temp: 20, thing: 'oven' });
  await d.send('$aws/things/oven/shadow/name/cfg/update', { state: { desired: { unit: 'C' } } });
  await d.send('readings/oven', { temp: 180 });
  assert.deepEqual(await d.next('seen/enriched'), { temp: 180, limit: 220, unit: 'C' }, 'Undefined for a shadow that does not exist: no field');
  // a rule's republish is a shadow request too (the "mirror" pattern of AWS's rules)
  await d.send('mirror/oven2', { temp: 5 });
  await waitUntil(() => shadowDoc(gw, 'oven2'), 'the shadow the rule wrote');
  assert.deepEqual(shadowDoc(gw, 'oven2')?.state, { reported: { temp: 5 } });
});

test("the admin API: a refusal is AWS's code as the HTTP status (GH_SHADOW_REJECTED); PUT is 405 with Allow; the list", async (t) => {
  const { gw } = await startShadowGateway(t);
  const base = `http://127.0.0.1:${gw.admin!.address().port}`;
  const call = async (method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown>; allow: string | null }> => {
    const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, allow: res.headers.get('allow') };
  };
  const missing = await call('GET', '/api/shadows/gadget?name=cfg');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json.error && (missing.json.error as { code: string; message: string }).code, 'GH_SHADOW_REJECTED');
  assert.equal((missing.json.error as { message: string }).message, "404 No shadow exists with name: 'gadget~cfg'");
  assert.equal((await call('POST', '/api/shadows/gadget?name=cfg', '{"state":{"desired":{"a":1}}}')).status, 200);
  assert.equal((await call('POST', '/api/shadows/gadget?name=cfg', '{"state":{"desired":{"a":2}},"version":7}')).status, 409);
  assert.equal((await call('POST', '/api/shadows/gadget?name=cfg', 'nope')).status, 400);
  assert.equal((await call('POST', '/api/shadows/bad%20name', '{"state":{}}')).status, 400);
  const put = await call('PUT', '/api/shadows/gadget');
  assert.equal(put.status, 405);
  assert.equal(put.allow, 'GET, HEAD, POST, DELETE');
  assert.deepEqual(
    ((await call('GET', '/api/shadows')).json.shadows as Array<Record<string, unknown>>).map(({ thing, name, version }) => ({ thing, name, version })),
    [{ thing: 'gadget', name: 'cfg', version: 1 }],
  );
  assert.equal((await call('DELETE', '/api/shadows/gadget?name=cfg')).json.version, 1);
  assert.deepEqual((await call('GET', '/api/shadows')).json.shadows, []);
});

test('shadows.enabled: false: the topics pass like any other (answer topics too), no /api/shadows, get_thing_shadow() refused', async (t) => {
  const { url, gw } = await startShadowGateway(t, 'shadows: { enabled: false }\n');
  assert.equal(gw.shadows, undefined);
  const d = await device(t, url, { clientId: 'plain' });
  await d.c.subscribeAsync('$aws/things/plain/shadow/#', { qos: 1 });
  await d.send('$aws/things/plain/shadow/update/accepted', { made: 'by a client' });
  assert.deepEqual(await d.next('$aws/things/plain/shadow/update/accepted'), { made: 'by a client' });
  const res = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/shadows`);
  assert.equal(res.status, 404);
  await assert.rejects(
    gw.rules.check({ version: 2, rules: [{ name: 's', sql: "SELECT get_thing_shadow('t', 'r') AS s FROM 'a/b'", actions: [] }] }, 'test'),
    /shadows\.enabled: false/,
  );
});
