// Round-13 audit of topic templates: a placeholder whose field is an object or array renders as
// its JSON text (cleaned like any value), not JavaScript's "[object Object]" for every object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTopic } from '../../firmware-bridge/topic.js';

test('topic template: object and array field values render as JSON text with / + # replaced', () => {
  const t = compileTopic('devices/${deviceId}/telemetry', 'uart0');
  assert.equal(t.render({ deviceId: { site: 'a/b', n: 1 } }), 'devices/{"site":"a_b","n":1}/telemetry');
  assert.equal(t.render({ deviceId: ['x', 2] }), 'devices/["x",2]/telemetry');
  assert.notEqual(t.render({ deviceId: { a: 1 } }), t.render({ deviceId: { a: 2 } }), 'two objects give two topics');
  assert.equal(t.render({ deviceId: 'ws1' }), 'devices/ws1/telemetry');
  assert.equal(t.render({ deviceId: 7 }), 'devices/7/telemetry');
  assert.equal(t.render({}), 'devices/unknown/telemetry');
});
