// Broker options schema, security check and password hashing (pure logic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerOptionsSchema, checkBrokerSecurity, isLoopback, listenerName } from '../../gateway/broker/options.js';
import { hashPassword, verifyPassword } from '../../gateway/broker/password.js';
import { isGatehouseError } from '../../core/errors.js';

test('defaults', () => {
  const o = brokerOptionsSchema.parse({});
  assert.deepEqual(o.listeners, [{ host: '127.0.0.1', port: 1883, protocol: 'mqtt' }]);
  assert.equal(o.allowAnonymous, true);
  assert.equal(o.maxConnections, 1000);
  assert.equal(o.maxPayloadBytes, 256 * 1024);
  assert.equal(o.maxInflight, 100);
  assert.equal(o.acl, undefined);
  checkBrokerSecurity(o);
});

test('WebSocket listeners: default names ws/wss beside mqtt/mqtts, a path only with protocol websockets and starting with /', () => {
  const tls = { cert: 'c.pem', key: 'k.pem' };
  const ls = brokerOptionsSchema.parse({
    listeners: [
      { port: 1 },
      { port: 2, protocol: 'websockets' },
      { port: 3, protocol: 'websockets', tls, path: '/mqtt' },
      { port: 4, protocol: 'websockets' },
      { port: 5, tls },
    ],
  }).listeners;
  assert.deepEqual(
    ls.map((_, i) => listenerName(ls, i)),
    ['mqtt', 'ws-0', 'wss', 'ws-1', 'mqtts'],
  );
  const bad = (l: Record<string, unknown>): string | undefined => {
    const r = brokerOptionsSchema.safeParse({ listeners: [l] });
    return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.match(bad({ port: 1, path: '/mqtt' }) ?? '', /listeners\.0\.path: needs protocol: websockets/);
  assert.match(bad({ port: 1, protocol: 'websockets', path: 'mqtt' }) ?? '', /listeners\.0\.path: a URL path/);
  assert.match(bad({ port: 1, protocol: 'websockets', path: '/mqtt?x=1' }) ?? '', /a URL path/);
  assert.match(bad({ port: 1, protocol: 'ws' }) ?? '', /listeners\.0\.protocol/);
  assert.equal(bad({ port: 1, protocol: 'websockets', path: '/' }), undefined);
  assert.equal(bad({ port: 1, protocol: 'websockets', origins: ['https://hmi.plant.local', 'http://10.0.0.5:8080', '*'] }), undefined);
  assert.match(bad({ port: 1, protocol: 'websockets', origins: ['https://hmi.plant.local/page'] }) ?? '', /listeners\.0\.origins\.0: an origin/);
  assert.match(bad({ port: 1, origins: ['*'] }) ?? '', /listeners\.0\.origins: needs protocol: websockets/);
});

test('checkBrokerSecurity refuses anonymous beyond loopback, with a hint', () => {
  for (const host of ['0.0.0.0', '::', '192.168.1.5', '']) {
    const o = brokerOptionsSchema.parse({ listeners: [{ host: '127.0.0.1' }, { host, port: 1884 }] });
    assert.throws(
      () => checkBrokerSecurity(o),
      (err) => isGatehouseError(err, 'GH_CONFIG_INSECURE') && err.where === 'broker.listeners.1.host' && /127\.0\.0\.1/.test(err.hint ?? ''),
      host,
    );
  }
  checkBrokerSecurity(brokerOptionsSchema.parse({ listeners: [{ host: '0.0.0.0' }], allowAnonymous: false }));
  checkBrokerSecurity(brokerOptionsSchema.parse({ listeners: [{ host: '::1' }, { host: '127.0.0.2' }, { host: 'localhost' }] }));
  // mutual TLS authenticates clients by certificate
  checkBrokerSecurity(brokerOptionsSchema.parse({ listeners: [{ host: '0.0.0.0', tls: { cert: 'c', key: 'k', ca: 'ca', requestCert: true } }] }));
  const withUsers = brokerOptionsSchema.parse({ listeners: [{ host: '0.0.0.0' }], users: [{ username: 'u', password: hashPassword('p') }] });
  assert.throws(
    () => checkBrokerSecurity(withUsers),
    (err) => isGatehouseError(err) && /allowAnonymous: false/.test(err.hint ?? ''),
  );
});

test('isLoopback and listener names', () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  const ls = brokerOptionsSchema.parse({ listeners: [{ port: 1 }, { port: 2, tls: { cert: 'c', key: 'k' } }, { port: 3 }] }).listeners;
  assert.deepEqual(
    [0, 1, 2].map((i) => listenerName(ls, i)),
    ['mqtt-0', 'mqtts', 'mqtt-1'],
  );
});

test('plain passwords and duplicate users are refused with the key path', () => {
  const r = brokerOptionsSchema.safeParse({ users: [{ username: 'u', password: 'hunter2' }] });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0]?.path, ['users', 0, 'password']);
  const h = hashPassword('x');
  assert.equal(
    brokerOptionsSchema.safeParse({
      users: [
        { username: 'u', password: h },
        { username: 'u', password: h },
      ],
    }).success,
    false,
  );
  assert.equal(brokerOptionsSchema.safeParse({ maxPayloadBytes: 0 }).success, false);
});

test('hashPassword / verifyPassword', async () => {
  const h = hashPassword('s3cret');
  assert.match(h, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(hashPassword('s3cret'), h, 'random salt');
  assert.equal(await verifyPassword('s3cret', h), true);
  assert.equal(await verifyPassword(Buffer.from('s3cret'), h), true);
  assert.equal(await verifyPassword('wrong', h), false);
  assert.equal(await verifyPassword('s3cret', 'garbage'), false);
  assert.equal(await verifyPassword('s3cret', 'scrypt$1048577$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), false, 'absurd cost refused');
  assert.equal(brokerOptionsSchema.safeParse({ users: [{ username: 'u', password: h }] }).success, true);
});

test('a TLS listener requiring client certificates without a ca is refused at tls.requestCert (node would trust every public CA)', () => {
  const tls = { cert: '/c.pem', key: '/k.pem', requestCert: true };
  const r = brokerOptionsSchema.safeParse({ listeners: [{ port: 8883, tls }] });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0]?.path, ['listeners', 0, 'tls', 'requestCert']);
  assert.match(r.error?.issues[0]?.message ?? '', /public CA/);
  assert.equal(brokerOptionsSchema.safeParse({ listeners: [{ port: 8883, tls: { ...tls, ca: '/ca.pem' } }] }).success, true);
  assert.equal(brokerOptionsSchema.safeParse({ listeners: [{ port: 8883, tls: { cert: '/c.pem', key: '/k.pem' } }] }).success, true);
});

test('tls.crl and tls.identity need client certificates (requestCert); clientIdMustMatchIdentity needs an identity', () => {
  const base = { cert: '/c.pem', key: '/k.pem' };
  const mtls = { ...base, ca: '/ca.pem', requestCert: true };
  const issue = (tls: Record<string, unknown>): { path: unknown; message: string } | undefined => {
    const r = brokerOptionsSchema.safeParse({ listeners: [{ port: 8883, tls }] });
    return r.success ? undefined : { path: r.error.issues[0]?.path, message: r.error.issues[0]?.message ?? '' };
  };
  assert.deepEqual(issue({ ...base, crl: '/crl.pem' })?.path, ['listeners', 0, 'tls', 'crl']);
  assert.deepEqual(issue({ ...base, identity: 'cn' })?.path, ['listeners', 0, 'tls', 'identity']);
  assert.deepEqual(issue({ ...mtls, clientIdMustMatchIdentity: true })?.path, ['listeners', 0, 'tls', 'clientIdMustMatchIdentity']);
  assert.match(issue({ ...mtls, identity: 'uid' })?.message ?? '', /cn|subject/);
  assert.equal(issue({ ...mtls, crl: '/crl.pem', identity: 'subject', clientIdMustMatchIdentity: true }), undefined);
  const parsed = brokerOptionsSchema.parse({ listeners: [{ port: 8883, tls: mtls }] });
  assert.equal(parsed.listeners[0]?.tls?.identity, 'none', "default: today's behaviour, a certificate gives no user name");
  assert.equal(parsed.listeners[0]?.tls?.clientIdMustMatchIdentity, false);
});
