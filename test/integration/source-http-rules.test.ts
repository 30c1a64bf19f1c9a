// What a rule sees of an http source's message, in a real gateway process with a rule writing to a
// stream read back through the admin API: clientid() 'n/a' (as AWS IoT for a message that did not
// come over MQTT), sourceip() the client's address, principal() the credential's name, a query
// parameter as a user property, the request's Content-Type as the content type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { post } from '../helpers/http-post.js';

const TOKEN = 'rules-token-0123456789abcdef';

test("an http source's message in the rules: clientid(), sourceip(), principal(), user properties, content type", async (t) => {
  const dir = await tempDir(t);
  const port = await freePort(t);
  await writeFile(
    join(dir, 'rules.yaml'),
    [
      'version: 1',
      'rules:',
      '  - name: shelly',
      '    sql: >-',
      '      SELECT temp, topic(2) AS device, clientid() AS c, sourceip() AS ip, principal() AS p,',
      "      get_user_properties('event')[0] AS event, get_mqtt_property('content_type') AS ct FROM 'shelly/#'",
      '    actions: [{ stream: { name: archive } }]',
      '',
    ].join('\n'),
  );
  const sha = createHash('sha256').update(TOKEN).digest('hex');
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\nsources:\n  - { type: http, name: devices, port: ${port}, auth: { tokens: [{ name: shelly-fleet, sha256: "${sha}" }] } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const r = await post(port, '/topics/shelly/kitchen?event=up', '{"temp":21.5}', {
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  });
  assert.equal(r.status, 200, r.body);
  const res = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records`)).json()) as { records: Array<{ topic: string; payload: string }> };
  assert.equal(res.records.length, 1);
  assert.deepEqual(JSON.parse(res.records[0]!.payload), {
    temp: 21.5,
    device: 'kitchen',
    c: 'n/a',
    ip: '127.0.0.1',
    p: 'shelly-fleet',
    event: 'up',
    ct: 'application/json',
  });
});

test('an http source that bans an address says so in the log with the address, as the broker does (before: a 429 and a count, no word of who)', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort(t);
  const sha = createHash('sha256').update(TOKEN).digest('hex');
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nsources:\n  - { type: http, name: devices, port: ${port}, auth: { maxFailures: 2, tokens: [{ name: shelly-fleet, sha256: "${sha}" }] } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const wrong = { headers: { authorization: 'Bearer wrong-token-0123456789' } };
  assert.equal((await post(port, '/topics/shelly/1', 'x', wrong)).status, 401);
  assert.equal(gw.logs.filter((l) => String(l.msg).includes('temporary ban')).length, 0, 'one failure bans nobody');
  assert.equal((await post(port, '/topics/shelly/1', 'x', wrong)).status, 401);
  assert.equal((await post(port, '/topics/shelly/1', 'x', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 429);
  const line = await waitUntil(() => gw.logs.find((l) => String(l.msg).includes('temporary ban')), 'the ban logged', 10_000, 20);
  assert.equal(line.msg, 'http source: repeated failed authentication: temporary ban (429)');
  assert.equal(line.ip, '127.0.0.1');
  assert.equal(line.source, 'devices');
  assert.equal(line.level, 40);
});

test("an http source on port 0: the start's 'gatehouse started' line gives its URL with the port it took, and a POST there is taken", async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nsources:\n  - { type: http, name: devices, port: 0 }\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { http?: Array<{ name: string; url: string }> } | undefined;
  assert.ok(started?.http, 'the started line names the http sources');
  assert.equal(started.http.length, 1);
  assert.equal(started.http[0]!.name, 'devices');
  const m = /^http:\/\/127\.0\.0\.1:(\d+)\/topics\/$/.exec(started.http[0]!.url);
  assert.ok(m && Number(m[1]) > 0, started.http[0]!.url);
  const r = await post(Number(m[1]), '/topics/shelly/kitchen', '{"temp":21.5}');
  assert.equal(r.status, 200, r.body);
});
