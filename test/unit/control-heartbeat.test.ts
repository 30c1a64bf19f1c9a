// The heartbeat's rates and uptime are measured on the monotonic clock: an NTP step of the wall
// clock (a Pi without RTC) must not turn into a rate of millions per second or a negative uptime.
// (The wall clock only stamps `at` and ages records.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { HeartbeatCollector } from '../../gateway/control/heartbeat.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { tempDir } from '../helpers/index.js';

test('heartbeat: rates and uptime come from elapsed (monotonic) time, whatever the wall clock says', async (t) => {
  const registry = new Registry();
  const msgs = new Counter({ name: 'gatehouse_mqtt_messages_in_total', help: 'test', registers: [registry] });
  let mono = 5_000;
  const hb = new HeartbeatCollector({
    gatewayId: 'gw',
    version: 'test',
    // A start stamped a year in the future by a wall clock NTP has since stepped back.
    startedAt: Date.now() + 365 * 86_400_000,
    startedMono: 5_000,
    monotonic: () => mono,
    dataDir: await tempDir(t),
    registry,
    streams: new MemoryStreams(),
    activeRuleSetVersion: () => 1,
  });
  msgs.inc(200);
  mono += 10_000;
  const first = await hb.collect();
  assert.equal(first.uptimeSeconds, 10);
  assert.equal(first.rates.mqttIn, 20);
  msgs.inc(50);
  mono += 5_000;
  const second = await hb.collect();
  assert.equal(second.uptimeSeconds, 15);
  assert.equal(second.rates.mqttIn, 10);
});
