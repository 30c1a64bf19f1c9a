// Which Modbus TCP answers are out of step (gateway/pipeline/sources/modbus/stray-answers.ts), on a
// stand-in of modbus-serial's TCP port: ids it sets as the library does (the next request's id,
// wrapping at 256; the id of each answer read before the answer is emitted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { StrayAnswers } from '../../gateway/pipeline/sources/modbus/stray-answers.js';

function port() {
  const p = Object.assign(new EventEmitter(), { _transactionIdRead: 0, _transactionIdWrite: 1 });
  const answer = (id: number): void => {
    p._transactionIdRead = id;
    p.emit('data', Buffer.alloc(5));
  };
  const sent = (): void => {
    p._transactionIdWrite = (p._transactionIdWrite + 1) % 256;
  };
  return { p, answer, sent, strays: new StrayAnswers({ _port: p } as unknown as ModbusRTU) };
}

test('an answer with another id is out of step on every request, also once the ids wrapped (more than 256 requests)', () => {
  const { answer, sent, strays } = port();
  for (let i = 0; i < 600; i++) {
    const mark = strays.begin();
    sent();
    answer(((mark.sent ?? 0) + 128) % 256);
    strays.end(mark, true);
    assert.deepEqual(strays.since(mark), { got: ((mark.sent ?? 0) + 128) % 256, sent: mark.sent }, `request ${i}`);
  }
});

test("a request's own answer is not out of step, nor the late answer of one that timed out just before (a slow device)", () => {
  const { answer, sent, strays } = port();
  for (let i = 0; i < 600; i++) {
    const mark = strays.begin();
    sent();
    answer(mark.sent ?? 0);
    strays.end(mark, false);
    assert.equal(strays.since(mark), undefined, `request ${i}`);
  }
  // A slow device: each answer comes during the next request, which times out in turn.
  let previous: number | undefined;
  for (let i = 0; i < 600; i++) {
    const mark = strays.begin();
    sent();
    if (previous !== undefined) answer(previous);
    strays.end(mark, true);
    assert.equal(strays.since(mark), undefined, `request ${i}`);
    previous = mark.sent;
  }
});
