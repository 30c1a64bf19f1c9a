// One template syntax (core/template.ts): ${...} everywhere; the older {name} and !{name} forms
// still read where they were used (destinations, serial topics), with a deprecation note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { legacyNote, scanTemplate } from '../../core/template.js';
import { isGatehouseError } from '../../core/errors.js';
import { compileTemplate as compileRuleTemplate } from '../../rules/sql/template.js';
import { compileTemplate, renderTemplate } from '../../gateway/upstream/destinations/common.js';
import { compileS3KeyTemplate, renderS3Key } from '../../gateway/upstream/destinations/s3.js';
import { compileTopic } from '../../firmware-bridge/topic.js';
import type { StoredRecord } from '../../gateway/store/types.js';

test('the scanner splits text and placeholders, honouring quotes and nested braces', () => {
  assert.deepEqual(scanTemplate("a/${get(x, '}')}/b"), ['a/', { body: "get(x, '}')", at: 2, legacy: false }, '/b']);
  assert.deepEqual(scanTemplate('plain {not a placeholder}'), ['plain {not a placeholder}'], 'without legacy, braces are text (rule actions)');
  assert.deepEqual(
    scanTemplate('x.{a}.!{t:y}.${b}', { legacy: true }).filter((p) => typeof p !== 'string'),
    [
      { body: 'a', at: 2, legacy: true },
      { body: 't:y', at: 6, legacy: true },
      { body: 'b', at: 13, legacy: false },
    ],
  );
  assert.throws(
    () => scanTemplate('a/${topic(2)'),
    // The catalogue's message of GH_TEMPLATE_INVALID (docs/errors.md), the column in `where`.
    (e: unknown) => isGatehouseError(e, 'GH_TEMPLATE_INVALID') && e.message === "template 'a/${topic(2)' is malformed: unclosed ${" && e.where === 'column 3',
  );
  assert.throws(
    () => scanTemplate('a/${ }'),
    (e: unknown) => isGatehouseError(e, 'GH_TEMPLATE_INVALID') && e.message === "template 'a/${ }' is malformed: empty ${}",
  );
  assert.throws(
    () => scanTemplate('a/{x', { legacy: true, code: 'GH_CONFIG_INVALID', where: 'k' }),
    (e: unknown) => isGatehouseError(e, 'GH_CONFIG_INVALID') && e.where === 'k' && e.message === "template 'a/{x' is malformed: unclosed {",
    'a config site keeps its code, in the same words',
  );
});

test('a deprecation note names the old placeholders and shows the ${} spelling', () => {
  const src = '!{timestamp:yyyy}/{stream}-${firstSeq}';
  assert.equal(
    legacyNote(src, scanTemplate(src, { legacy: true }), 's3.keyTemplate'),
    "s3.keyTemplate: !{timestamp:yyyy}, {stream} is deprecated template syntax; write '${timestamp:yyyy}/${stream}-${firstSeq}'",
  );
  assert.equal(legacyNote('a.${b}', scanTemplate('a.${b}', { legacy: true }), 'w'), undefined);
});

test('rule action templates still compile SQL expressions inside ${}', () => {
  const t = compileRuleTemplate("out/${concat('a', '}')}/x");
  assert.equal(t.constant, false);
  assert.throws(
    () => compileRuleTemplate('out/${nope('),
    (e: unknown) => isGatehouseError(e, 'GH_TEMPLATE_INVALID') && e.message === "template 'out/${nope(' is malformed: unclosed ${",
  );
  assert.throws(
    () => compileRuleTemplate('out/${nope(}'),
    (e: unknown) => isGatehouseError(e, 'GH_TEMPLATE_INVALID') && e.message.startsWith("template 'out/${nope(}' is malformed: bad expression ${nope(}: "),
  );
});

test('destination, S3 key and serial topic templates: ${} and the deprecated forms render the same', () => {
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const value = (f: string): string => (f === 'stream' ? 'telemetry' : f === 'key' ? 'dev-1' : 'a/b');
  assert.equal(renderTemplate(compileTemplate('${stream}/${key}', ['stream', 'key'], 'k', warn), value), 'telemetry/dev-1');
  assert.equal(renderTemplate(compileTemplate('{stream}/{key}', ['stream', 'key'], 'k', warn), value), 'telemetry/dev-1');
  assert.throws(
    () => compileTemplate('${nope}', ['stream'], 'k'),
    (e: unknown) => isGatehouseError(e, 'GH_DESTINATION_CONFIG') && /unknown field '\$\{nope\}'/.test(e.message),
  );

  const recs: StoredRecord[] = [
    { stream: 's', seq: 7, topic: 't', receivedAt: Date.UTC(2026, 0, 2, 3, 4), payload: Buffer.from('x') },
    { stream: 's', seq: 9, topic: 't', receivedAt: Date.UTC(2026, 0, 2, 3, 5), payload: Buffer.from('y') },
  ];
  const ids = { gatewayId: 'pi-7', installationId: '0123456789abcdef' };
  const modern = renderS3Key(compileS3KeyTemplate('${timestamp:yyyy}/${timestamp:MM}/${timestamp:HH}/${stream}-${firstSeq}-${lastSeq}', warn), recs, ids);
  const old = renderS3Key(compileS3KeyTemplate('!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:HH}/{stream}-{firstSeq}-{lastSeq}', warn), recs, ids);
  assert.equal(modern, '2026/01/03/s-7-9');
  assert.equal(old, modern);
  assert.equal(renderS3Key(compileS3KeyTemplate('${gatewayId}/${installationId}/${stream}-${firstSeq}'), recs, ids), 'pi-7/0123456789abcdef/s-7');

  assert.equal(compileTopic('devices/${deviceId}/${link}', 'uart0', 't', warn).render({ deviceId: 'd1' }), 'devices/d1/uart0');
  assert.equal(compileTopic('devices/{deviceId}/{link}', 'uart0', 't', warn).render({ deviceId: 'd1' }), 'devices/d1/uart0');
  assert.equal(compileTopic('devices/${deviceId}/cmd', 'u').filter(), 'devices/+/cmd');
  assert.equal(warnings.length, 3, `one note per template in an old form: ${warnings.join(' | ')}`);
});
