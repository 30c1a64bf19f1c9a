import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError, ERROR_CODES, errorMessage, isGatehouseError } from '../../core/errors.js';

test('GatehouseError carries a stable code, where and hint', () => {
  const err = new GatehouseError('GH_CONFIG_INVALID', 'broker.port must be a number', { where: 'broker.port', hint: 'write port: 1883' });
  assert.equal(err.code, 'GH_CONFIG_INVALID');
  assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'));
  assert.ok(!isGatehouseError(new Error('x')));
  assert.equal(errorMessage(err), 'GH_CONFIG_INVALID: broker.port must be a number (at broker.port). Fix: write port: 1883');
  assert.ok(Object.keys(ERROR_CODES).every((c) => c.startsWith('GH_')));
});
