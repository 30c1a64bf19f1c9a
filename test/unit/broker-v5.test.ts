// Pure parts of the MQTT 5 layer: protocol sniffing, the commit-error -> reason code mapping,
// the record attributes that keep v5 properties, and the republish headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { protocolLevel } from '../../gateway/broker/v5/sniff.js';
import { reasonForCommitError, coded } from '../../gateway/broker/v5/codes.js';
import { attrsToProperties, propertiesToAttrs } from '../../gateway/store/mqtt5-attrs.js';
import { compileHeaders } from '../../gateway/pipeline/actions/republish-headers.js';
import { GatehouseError } from '../../core/errors.js';
import { compileTemplate } from '../../rules/sql/template.js';
import type { EvalContext } from '../../rules/index.js';

test('protocolLevel reads the CONNECT protocol level of 3.1, 3.1.1 and 5, byte by byte', () => {
  for (const [protocolVersion, protocolId] of [
    [3, 'MQIsdp'],
    [4, 'MQTT'],
    [5, 'MQTT'],
  ] as const) {
    const buf = mqttPacket.generate({ cmd: 'connect', protocolVersion, protocolId, clientId: 'x', clean: true, keepalive: 0 });
    for (let n = 0; n < buf.length; n++) {
      const got = protocolLevel(buf.subarray(0, n));
      if (got !== undefined) {
        assert.equal(got, protocolVersion, `prefix of ${n} bytes`);
        break;
      }
    }
    assert.equal(protocolLevel(buf), protocolVersion);
  }
  assert.equal(protocolLevel(Buffer.from('GET / HTTP/1.1\r\n')), null);
  assert.equal(protocolLevel(Buffer.from([0x10, 0x0a, 0x00, 0x02, 0x68, 0x6a, 0x05])), null, "protocol name 'hj'");
});

test('reasonForCommitError: stream full and disk full 0x97, ACL 0x87, oversize 0x95, otherwise 0x80; causes are followed', () => {
  assert.equal(reasonForCommitError(new GatehouseError('GH_STREAM_FULL', 'full')), 0x97);
  // The store's refusal under store.reserveBytes (no ENOSPC in it): docs/broker.md promises 0x97.
  assert.equal(reasonForCommitError(new GatehouseError('GH_STORE_DISK_FULL', 'free space 0 bytes is under the reserve')), 0x97);
  assert.equal(reasonForCommitError(Object.assign(new Error('write failed'), { code: 'ENOSPC' })), 0x97);
  assert.equal(reasonForCommitError(new GatehouseError('GH_RECORD_TOO_LARGE', 'big')), 0x97);
  assert.equal(reasonForCommitError(new GatehouseError('GH_ACL_DENIED', 'no')), 0x87);
  assert.equal(reasonForCommitError(coded(0x95, 'too large')), 0x95);
  assert.equal(reasonForCommitError(new GatehouseError('GH_ACTION_FAILED', 'wrapped', { cause: new GatehouseError('GH_STREAM_FULL', 'full') })), 0x97);
  assert.equal(reasonForCommitError(new Error('boom')), 0x80);
  assert.equal(reasonForCommitError('not an error'), 0x80);
});

test('v5 properties survive the record attributes round trip; none gives none', () => {
  const p = {
    contentType: 'application/json',
    payloadFormatIndicator: true,
    responseTopic: 'r/1',
    correlationData: Buffer.from([0, 1, 255]),
    messageExpiryInterval: 30,
    userProperties: { a: '1', b: ['x', 'y'] },
  };
  const attrs = propertiesToAttrs(p)!;
  assert.ok(Object.keys(attrs).every((k) => k.startsWith('mqtt5.')));
  assert.deepEqual(attrsToProperties(attrs), p);
  assert.equal(propertiesToAttrs(undefined), undefined);
  assert.equal(propertiesToAttrs({}), undefined);
  assert.equal(attrsToProperties({ error: 'x' }), undefined);
  assert.equal(attrsToProperties({ 'mqtt5.userProperties': 'not json' }), undefined);
});

test('republish headers render AWS-style templates into MQTT 5 properties; bad values are clear errors', () => {
  const ctx = {} as EvalContext;
  const render = compileHeaders(
    {
      payloadFormatIndicator: 'UTF8_DATA',
      contentType: 'text/plain',
      responseTopic: 'r/${1+1}',
      correlationData: Buffer.from('abc').toString('base64'),
      messageExpiry: '${2*30}',
      userProperties: [
        { key: 'k', value: 'v1' },
        { key: 'k', value: 'v2' },
      ],
    },
    (s) => compileTemplate(s),
  );
  const p = render(ctx, 'rule');
  assert.equal(p.payloadFormatIndicator, true);
  assert.equal(p.contentType, 'text/plain');
  assert.equal(p.responseTopic, 'r/2');
  assert.equal(p.correlationData?.toString(), 'abc');
  assert.equal(p.messageExpiryInterval, 60);
  assert.deepEqual(p.userProperties, { k: ['v1', 'v2'] });
  assert.throws(() => compileHeaders({ payloadFormatIndicator: 'UTF16' }, (s) => compileTemplate(s))(ctx, 'rule'), /payloadFormatIndicator/);
  assert.throws(() => compileHeaders({ messageExpiry: 'soon' }, (s) => compileTemplate(s))(ctx, 'rule'), /messageExpiry/);
});
