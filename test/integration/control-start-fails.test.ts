// A control plane whose start fails partway leaves nothing behind: no listener on the rules (the
// remote control's and the probation monitor's), no connection to the control broker, no timer, no
// metric read at scrape time. The real cause: control.upstream.ca names a file that is
// not there, which the config's validation does not read (`check-config` does, `start` does not):
// the channel refuses it when it starts, after the remote control began listening (its listener on
// the rules' status, its subscriptions). Real parts: a running gateway's rule host, store and
// broker, an in-process broker as the control broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { createBroker } from '../../gateway/broker/index.js';
import { controlOptionsSchema, createUpdateVerifier, startControlPlane } from '../../gateway/control/index.js';
import type { LocalBrokerPort } from '../../gateway/control/channel.js';
import { tempDir, testDeps } from '../helpers/index.js';
import { activeResources, noHandlesAdded } from '../helpers/leaks.js';

test('control plane: a start failing at its channel (control.upstream.ca missing) leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `gatewayId: gw-cp\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol:\n  enabled: false\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-cp'), version: 'test' });
  t.after(() => gw.stop());
  const office = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => undefined });
  await office.start();
  t.after(() => office.stop());

  // The local broker port: not the channel here (an upstream one is configured), but handed as the gateway does.
  const local: LocalBrokerPort = {
    subscribe: (filter, handler) => gw.broker.subscribe(filter, handler),
    publish: (p) => gw.broker.publish(p),
    ingest: () => undefined,
    onPublishRefused: (l) => gw.broker.onPublishRefused(l),
  };
  const control = controlOptionsSchema.parse({
    allowUnsigned: true,
    upstream: { url: `mqtt://127.0.0.1:${office.addresses()[0]!.port}`, ca: join(dir, 'no-such-ca.pem') },
  });
  const registry = new Registry();
  const listeners = gw.rules.listenerCount('status');
  const before = activeResources();
  const started = startControlPlane({
    ...testDeps(),
    registry,
    gatewayId: 'gw-cp',
    version: 'test',
    startedAt: Date.now(),
    dataDir: join(dir, 'data'),
    control,
    jobs: [{ name: 'hb', schedule: '* * * * *', type: 'heartbeat' }],
    rules: gw.rules,
    streams: gw.streams,
    verifier: createUpdateVerifier(control, registry),
    local,
  });
  await assert.rejects(started, { code: 'GH_CONFIG_INVALID', message: /no-such-ca\.pem/ });

  assert.equal(gw.rules.listenerCount('status'), listeners, "listeners left on the rules' status after the failed start");
  assert.equal(registry.getSingleMetric('gatehouse_control_channel_connected'), undefined, 'the channel gauge (read at scrape time) after the failed start');
  assert.deepEqual(office.clients(), [], 'clients on the control broker after the failed start');
  await noHandlesAdded(before);
});
