// Round-13 audit of opening serial ports: two links on one port. Real ptys (socat), real serialport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialBridge } from '../../firmware-bridge/bridge.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { GatehouseError } from '../../core/errors.js';
import { testDeps } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial: two links on one port path are refused with GH_CONFIG_INVALID naming both, instead of one retrying "Cannot lock port" forever', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const deps = { ...testDeps(), onMessage: () => undefined };
  assert.throws(
    () => createSerialBridge([simulatorLinkOptions('a', pair.dev1, 'line', 'json'), simulatorLinkOptions('b', pair.dev1, 'line', 'kv')], deps),
    (err: unknown) => {
      assert.ok(err instanceof GatehouseError);
      assert.equal(err.code, 'GH_CONFIG_INVALID');
      assert.match(err.message, /'a'/);
      assert.match(err.message, /'b'/);
      assert.ok(err.message.includes(pair.dev1), err.message);
      return true;
    },
  );
});
