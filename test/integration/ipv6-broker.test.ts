// The broker on an IPv6 site, with real clients: listeners on ::1 and on :: (dual stack), and the
// addresses it keys security on. Skips only where the machine has no IPv6 loopback or no dual stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir } from '../helpers/index.js';
import { checkConfigFile, checkConfigText } from '../helpers/check-config.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { noIpv6Loopback } from '../helpers/ipv6.js';

const noV6 = await noIpv6Loopback();

test("listeners and the admin API on '[::1]' (an IPv6 address in brackets, as in a URL) start as check-config said; MQTT 3.1.1 and 5 over [::1]; clients listed by their IPv6 address", {
  skip: noV6,
}, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nbroker: { listeners: [{ host: '[::1]', port: 0 }] }\nadmin: { host: '[::1]', port: 0 }\n`,
  );
  const check = await checkConfigFile(config);
  assert.equal(check.code, 0, `check-config: ${check.out}${check.err}`);
  // before: check-config OK, then start: "GH_BROKER_LISTEN: cannot listen on [::1]:0: ENOTFOUND"
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started')!;
  assert.deepEqual(
    (started.mqtt as Array<{ host: string }>).map((l) => l.host),
    ['::1'],
  );
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqtt.connectAsync(`mqtt://[::1]:${gw.mqttPort}`, { protocolVersion, reconnectPeriod: 0, clientId: `v6-${protocolVersion}` });
    t.after(() => c.endAsync(true));
    await c.publishAsync('fleet/v6/engine', JSON.stringify({ v: protocolVersion }), { qos: 1 });
  }
  const res = await fetch(`http://[::1]:${gw.adminPort}/api/clients`);
  assert.equal(res.status, 200);
  const { clients } = (await res.json()) as { clients: Array<{ id: string; ip: string; protocolVersion: number }> };
  assert.deepEqual(
    clients
      .filter((c) => c.id.startsWith('v6-'))
      .map((c) => [c.id, c.ip])
      .sort(),
    [
      ['v6-4', '::1'],
      ['v6-5', '::1'],
    ],
  );
});

test('a listener host with a port in it is refused by check-config, saying where the port goes', async (t) => {
  for (const [host, want] of [
    ['[::1]:1883', "write host: '::1' and port: 1883"],
    ['0.0.0.0:1883', "write host: '0.0.0.0' and port: 1883"],
    ['[fd00::2', 'not an IPv4 or IPv6 address'],
  ] as const) {
    const r = await checkConfigText(t, `broker: { listeners: [{ host: '${host}', port: 1883 }] }\nadmin: { enabled: false }\n`);
    assert.equal(r.code, 1, host);
    assert.match(r.err + r.out, /broker\.listeners\.0\.host/, host);
    assert.ok((r.err + r.out).includes(want), `${host}: ${r.err}${r.out}`);
  }
});
