// ACL compilation and topic matching (pure logic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileClientAcl, aclHasDeny, reservedSubscription } from '../../gateway/broker/acl.js';
import { aclSchema } from '../../gateway/broker/options.js';
import { filterCovers, matchTopic, validFilter } from '../../core/topic-filter.js';

const lv = (f: string): string[] => f.split('/');

test('matchTopic follows MQTT wildcard rules', () => {
  assert.equal(matchTopic(lv('a/+/c'), 'a/b/c'), true);
  assert.equal(matchTopic(lv('a/+/c'), 'a/b/d'), false);
  assert.equal(matchTopic(lv('a/#'), 'a'), true);
  assert.equal(matchTopic(lv('a/#'), 'a/b/c'), true);
  assert.equal(matchTopic(lv('a/#'), 'ab'), false);
  assert.equal(matchTopic(lv('a/+'), 'a'), false);
  assert.equal(matchTopic(lv('a/+'), 'a/'), true);
  assert.equal(matchTopic(lv('a'), 'a/b'), false);
  assert.equal(matchTopic(lv('#'), '$SYS/x'), false);
  assert.equal(matchTopic(lv('+/x'), '$SYS/x'), false);
  assert.equal(matchTopic(lv('$SYS/#'), '$SYS/x'), true);
});

test('filterCovers: an ACL filter must cover the whole subscription', () => {
  assert.equal(filterCovers(lv('sensors/#'), 'sensors/+/temp'), true);
  assert.equal(filterCovers(lv('sensors/+/temp'), 'sensors/#'), false);
  assert.equal(filterCovers(lv('sensors/+/temp'), 'sensors/+/temp'), true);
  assert.equal(filterCovers(lv('sensors/a/temp'), 'sensors/+/temp'), false);
  assert.equal(filterCovers(lv('#'), '#'), true);
  assert.equal(filterCovers(lv('a/+'), 'a/b/c'), false);
});

test('validFilter', () => {
  for (const f of ['a', 'a/+/b', '#', 'a/#', '+']) assert.equal(validFilter(f), true, f);
  for (const f of ['', 'a/#/b', 'a#', 'a+/b', '##']) assert.equal(validFilter(f), false, f);
});

const acl = aclSchema.parse({
  users: {
    alice: [
      { topic: 'plant/#', access: 'readwrite' },
      { topic: 'plant/secret', access: 'deny' },
      { topic: 'cfg/#', access: 'read' },
    ],
  },
  patterns: [{ topic: 'devices/%u/%c/#', access: 'write' }],
  anonymous: [{ topic: 'public/#', access: 'read' }],
});

test('per-user rules, deny wins, read vs write', () => {
  const a = compileClientAcl(acl, 'alice', 'c1');
  assert.equal(a.canWrite('plant/line1'), true);
  assert.equal(a.canWrite('plant/line1'), true); // cached path
  assert.equal(a.canWrite('plant/secret'), false);
  assert.equal(a.canWrite('cfg/x'), false);
  assert.equal(a.subscribe('cfg/#'), 'allow');
  assert.equal(a.subscribe('plant/secret'), 'deny');
  assert.equal(a.subscribe('plant/#'), 'filter');
  assert.equal(a.canRead('plant/secret'), false);
  assert.equal(a.canRead('plant/open'), true);
  assert.equal(a.subscribe('other/#'), 'deny');
});

test('%u and %c patterns; unsafe substitutions skip the rule', () => {
  assert.equal(compileClientAcl(acl, 'alice', 'c1').canWrite('devices/alice/c1/t'), true);
  assert.equal(compileClientAcl(acl, 'alice', 'c1').canWrite('devices/alice/c2/t'), false);
  assert.equal(compileClientAcl(acl, 'bob', 'c1').canWrite('devices/alice/c1/t'), false);
  assert.equal(compileClientAcl(acl, 'bob', 'x/y').canWrite('devices/bob/x/y/t'), false, 'client id with / must not widen access');
  assert.equal(compileClientAcl(acl, 'bob', '#').canWrite('devices/bob/anything/t'), false);
  // anonymous: no %u, so pattern rules with %u never apply
  const anon = compileClientAcl(acl, undefined, 'c1');
  assert.equal(anon.canWrite('devices//c1/t'), false);
  assert.equal(anon.subscribe('public/x'), 'allow');
  assert.equal(anon.canWrite('public/x'), false);
});

test('no ACL: everything allowed; an empty ACL denies everything', () => {
  const open = compileClientAcl(undefined, undefined, 'c');
  assert.equal(open.canWrite('x'), true);
  assert.equal(open.subscribe('#'), 'allow');
  const closed = compileClientAcl(aclSchema.parse({}), 'u', 'c');
  assert.equal(closed.canWrite('x'), false);
  assert.equal(closed.subscribe('x'), 'deny');
  assert.equal(aclHasDeny(acl), true);
  assert.equal(aclHasDeny(aclSchema.parse({})), false);
  // a user name like __proto__ must not reach Object.prototype
  assert.equal(compileClientAcl(acl, '__proto__', 'c').canWrite('plant/x'), false);
});

test('ACL schema refuses invalid filters with the key path', () => {
  const r = aclSchema.safeParse({ users: { a: [{ topic: 'x/#/y' }] } });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0]?.path, ['users', 'a', 0, 'topic']);
});

test('reservedSubscription: a filter that could match an AWS IoT Basic Ingest topic ($aws/rules/<rule>/...) is refused, whatever the ACL', () => {
  for (const f of ['$aws/rules/BuildingManager/#', '$aws/rules/+/x', '$aws/rules/#', '$aws/#', '$aws/+/BuildingManager/#', '$share/g/$aws/rules/r/t']) {
    assert.match(String(reservedSubscription(f)), /Basic Ingest/, f);
  }
  for (const f of ['$aws/things/t1/shadow/update', '$aws/+', '$aws/rules', '#', 'aws/rules/r/t', '$SYS/#', '$share/g/sensors/#']) {
    assert.equal(reservedSubscription(f), undefined, f);
  }
});
