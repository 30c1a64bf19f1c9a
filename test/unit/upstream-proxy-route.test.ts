// Which way a destination's endpoint goes (gateway/upstream/proxy.ts): the environment as curl
// reads it, the config's network.proxy, the destination's own proxy, NO_PROXY with curl's rules;
// and that what is printed never holds the password. (No network: the routes are only decided here;
// test/integration/upstream-proxy.test.ts sends through a real tinyproxy.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/index.js';
import { describeRoute, mqttRouteFor, natsHostPort, natsRouteFor, noProxyMatch, routeFor, type Route } from '../../gateway/upstream/proxy.js';
import { routeLines, serverRoutes } from '../../gateway/upstream/destinations/nats-routes.js';
import { isGatehouseError } from '../../core/errors.js';

const https = new URL('https://kinesis.eu-west-1.amazonaws.com');
const http = new URL('http://ingest.plant.local:8080/firehose');

function via(r: Route): string {
  assert.equal(r.kind, 'proxy', describeRoute(r));
  return r.kind === 'proxy' ? `${r.safe} ${r.from}` : '';
}

test('the environment: https_proxy/HTTPS_PROXY for an https endpoint, http_proxy/HTTP_PROXY for an http one, ALL_PROXY else; lower case first; no scheme means http', () => {
  const env = { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'lower:3128', HTTP_PROXY: 'http://plain:8080' };
  assert.equal(via(routeFor(https, undefined, { env })), 'http://lower:3128 https_proxy');
  assert.equal(via(routeFor(http, undefined, { env })), 'http://plain:8080 HTTP_PROXY');
  assert.equal(via(routeFor(http, undefined, { env: { ALL_PROXY: 'http://all:1' } })), 'http://all:1 ALL_PROXY');
  const none = routeFor(https, undefined, { env: { HTTP_PROXY: 'http://plain:8080' } });
  assert.equal(none.kind, 'direct', 'HTTP_PROXY is not for https endpoints (curl)');
  assert.match(describeRoute(none), /^direct \(no proxy configured/);
});

test('network.proxy.url wins over the environment; its noProxy replaces NO_PROXY; username and passwordFile fill the credentials', async (t) => {
  const dir = await tempDir(t);
  const pw = join(dir, 'pw');
  await writeFile(pw, 'p@ss:w/rd\nignored second line\n');
  const env = { HTTPS_PROXY: 'http://env:1' };
  const r = routeFor(https, undefined, { proxy: { url: 'http://proxy.plant.local:3128', username: 'gw', passwordFile: pw }, env });
  assert.equal(via(r), 'http://proxy.plant.local:3128 network.proxy.url');
  assert.ok(r.kind === 'proxy' && decodeURIComponent(r.url.password) === 'p@ss:w/rd' && r.url.username === 'gw');
  assert.equal(describeRoute(r), 'through the proxy http://proxy.plant.local:3128 as user gw (from network.proxy.url)');
  assert.ok(!describeRoute(r).includes('p@ss'));
  const listed = routeFor(https, undefined, { proxy: { url: 'http://proxy:3128', noProxy: ['.amazonaws.com'] }, env: {} });
  assert.equal(listed.kind, 'direct');
  // Without noProxy in the config, the environment's NO_PROXY still applies (to the config's url too)...
  assert.equal(routeFor(https, undefined, { proxy: { url: 'http://proxy:3128' }, env: { NO_PROXY: 'amazonaws.com' } }).kind, 'direct');
  // ...and a noProxy of the config replaces it (here: an empty list, everything through the proxy).
  assert.equal(routeFor(https, undefined, { proxy: { url: 'http://proxy:3128', noProxy: [] }, env: { NO_PROXY: 'amazonaws.com' } }).kind, 'proxy');
  assert.match(describeRoute(listed), /matches '\.amazonaws\.com' of network\.proxy\.noProxy \(the proxy http:\/\/proxy:3128 is not used\)/);
  assert.throws(
    () => routeFor(https, undefined, { proxy: { url: 'http://proxy:3128', passwordFile: join(dir, 'missing') } }),
    (e: unknown) => isGatehouseError(e, 'GH_CONFIG_INVALID') && e.where === 'network.proxy.passwordFile',
  );
});

test("a destination's proxy: false goes direct whatever is configured; a URL is used as is (no noProxy check)", () => {
  const settings = { proxy: { url: 'http://proxy:3128', noProxy: ['*'] }, env: { HTTPS_PROXY: 'http://env:1' } };
  assert.match(describeRoute(routeFor(https, false, settings)), /^direct \(the destination's proxy: false\)$/);
  assert.equal(via(routeFor(https, 'http://u:secret@own:9000', settings)), 'http://own:9000 destination.proxy');
  assert.equal(describeRoute(routeFor(https, 'http://u:secret@own:9000', settings)), 'through the proxy http://own:9000 as user u (from destination.proxy)');
});

test("NO_PROXY with curl's rules: a name covers its subdomains, .name only them, host:port only that port, IPs exactly or by CIDR range, * all", () => {
  const m = (url: string, list: string[]): string | undefined => noProxyMatch(new URL(url), list);
  assert.equal(m('https://historian.plant.local', ['plant.local']), 'plant.local');
  assert.equal(m('https://plant.local', ['plant.local']), 'plant.local');
  assert.equal(m('https://plant.local', ['.plant.local']), undefined);
  assert.equal(m('https://a.plant.local', ['*.plant.local']), '*.plant.local');
  assert.equal(m('https://notplant.local', ['plant.local']), undefined, 'a suffix that is no subdomain');
  assert.equal(m('http://10.0.0.5:8080/x', ['10.0.0.5:8080']), '10.0.0.5:8080');
  assert.equal(m('http://10.0.0.5:9090/x', ['10.0.0.5:8080']), undefined);
  assert.equal(m('https://10.0.0.5', ['10.0.0.5:443']), '10.0.0.5:443', "the scheme's default port");
  assert.equal(m('https://10.0.0.50', ['10.0.0.5']), undefined);
  assert.equal(m('https://[::1]:8443', ['::1']), '::1');
  assert.equal(m('https://[::1]:8443', ['[::1]:8443']), '[::1]:8443');
  assert.equal(m('https://Example.COM.', [' EXAMPLE.com ']), ' EXAMPLE.com ');
  assert.equal(m('https://anything', ['*']), '*');
  // CIDR ranges (curl >= 7.86; a site's NO_PROXY often holds its LAN's: 10.0.0.0/8 went through the proxy)
  assert.equal(m('https://10.20.30.40', ['10.0.0.0/8']), '10.0.0.0/8');
  assert.equal(m('https://11.0.0.1', ['10.0.0.0/8']), undefined);
  assert.equal(m('https://[fd00::2]:8443', ['fd00::/8']), 'fd00::/8');
  assert.equal(m('https://[fe80::1]', ['fd00::/8']), undefined);
  assert.equal(m('https://[fd00::2]', ['[fd00::]/64']), '[fd00::]/64');
  assert.equal(m('https://10.0.0.1', ['fd00::/8']), undefined, 'another family');
  assert.equal(m('https://plant.local', ['10.0.0.0/8']), undefined, 'a name is not in a range');
  assert.equal(m('https://10.0.0.1', ['10.0.0.0/33']), undefined, 'a prefix too long matches nothing');
  assert.equal(m('https://[fd00::2]', ['fd00:0:0::2']), 'fd00:0:0::2', 'an address in another spelling');
  const env = { HTTPS_PROXY: 'http://p:1', no_proxy: 'localhost, .plant.local,10.1.2.3' };
  assert.equal(routeFor(new URL('https://s3.plant.local'), undefined, { env }).kind, 'direct');
  assert.equal(routeFor(https, undefined, { env }).kind, 'proxy');
});

test('a proxy URL that is none or not HTTP is a config error naming where it came from (a SOCKS proxy is not supported)', () => {
  for (const [settings, where] of [
    [{ env: { HTTPS_PROXY: 'socks5://p:1080' } }, "the environment's HTTPS_PROXY"],
    [{ proxy: { url: 'http://[bad' } }, 'network.proxy.url'],
  ] as const)
    assert.throws(
      () => routeFor(https, undefined, settings),
      (e: unknown) => isGatehouseError(e, 'GH_CONFIG_INVALID') && e.where === where,
    );
  // An IPv6 address without brackets (the environment's variables pass no schema): says how to write it.
  assert.throws(
    () => routeFor(https, undefined, { env: { HTTPS_PROXY: 'http://fd00::1:3128' } }),
    (e: unknown) => isGatehouseError(e, 'GH_CONFIG_INVALID') && e.message.includes("'http://[fd00::1]:3128'"),
  );
});

test("a NATS server's route: tls:// or tls files take HTTPS_PROXY, nats:// HTTP_PROXY; NO_PROXY on the server's port (4222 when none); its own option named", () => {
  const env = { HTTPS_PROXY: 'http://gw:secret@secure:3128', HTTP_PROXY: 'http://plain:3128', NO_PROXY: 'nats.plant.local:4222' };
  const via = (server: string, secure = false, own?: false | string): string => describeRoute(natsRouteFor(server, secure, own, { env }));
  assert.match(via('tls://connect.ngs.global'), /^through the proxy http:\/\/secure:3128 as user gw \(from HTTPS_PROXY\)$/);
  assert.match(via('nats://connect.ngs.global', true), /proxy http:\/\/secure:3128/, 'tls files: a TLS connection');
  assert.match(via('nats://connect.ngs.global:4222'), /^through the proxy http:\/\/plain:3128 \(from HTTP_PROXY\)$/);
  assert.match(via('connect.ngs.global'), /proxy http:\/\/plain:3128/, 'host alone, no scheme');
  // 4222 is the port when the URL names none: the NO_PROXY entry with that port matches it.
  assert.match(via('nats://nats.plant.local'), /^direct \(nats\.plant\.local:4222 matches 'nats\.plant\.local:4222' of NO_PROXY/);
  assert.match(via('nats://nats.plant.local:4223'), /through the proxy http:\/\/plain:3128/);
  assert.equal(via('nats://x.example.com', false, false), "direct (the destination's proxy: false)");
  assert.match(via('nats://u:p@x.example.com', false, 'http://other:8080'), /proxy http:\/\/other:8080 \(from destination\.proxy\)/);
  assert.deepEqual(natsHostPort('nats://user:pw@NATS.example.com'), { host: 'nats.example.com', port: 4222 });
  assert.deepEqual(natsHostPort('tls://[::1]:4333'), { host: '::1', port: 4333 });
  // One line for servers going the same way; per server (never with the URL's credentials) when they differ.
  const same = serverRoutes(['nats://a.example.com', 'nats://b.example.com'], {}, { env });
  assert.deepEqual(routeLines(same), ['through the proxy http://plain:3128 (from HTTP_PROXY)']);
  const mixed = routeLines(serverRoutes(['nats://u:pw@a.example.com', 'nats://nats.plant.local'], {}, { env }));
  assert.equal(mixed.length, 2);
  assert.match(mixed[0]!, /^to nats:\/\/a\.example\.com through the proxy http:\/\/plain:3128/);
  assert.match(mixed[1]!, /^to nats:\/\/nats\.plant\.local direct \(/);
  assert.ok(!mixed.join('').includes('pw'));
  // The start says nothing when no proxy is configured anywhere; check-config always says it.
  assert.deepEqual(routeLines(serverRoutes(['nats://a'], {}, { env: {} }), true), []);
  assert.match(routeLines(serverRoutes(['nats://a'], {}, { env: {} }))[0]!, /^direct \(no proxy configured/);
});

test("an MQTT connection's route: mqtts and wss take HTTPS_PROXY, mqtt and ws HTTP_PROXY; NO_PROXY on the broker's default port; its own option named", () => {
  const env = { HTTPS_PROXY: 'http://secure:3128', HTTP_PROXY: 'http://plain:3128', NO_PROXY: 'broker.plant.local:1883' };
  const via = (url: string, own?: false | string): string => describeRoute(mqttRouteFor(url, own, { env }, 'control.upstream.proxy'));
  assert.match(via('mqtts://abc-ats.iot.eu-west-1.amazonaws.com'), /proxy http:\/\/secure:3128 \(from HTTPS_PROXY\)/);
  assert.match(via('wss://abc-ats.iot.eu-west-1.amazonaws.com/mqtt'), /proxy http:\/\/secure:3128/);
  assert.match(via('ws://cloud.example.com/mqtt'), /proxy http:\/\/plain:3128 \(from HTTP_PROXY\)/);
  // 1883 is mqtt://'s port when the URL names none: the NO_PROXY entry with that port matches it, not mqtts's 8883.
  assert.match(via('mqtt://broker.plant.local'), /^direct \(broker\.plant\.local:1883 matches 'broker\.plant\.local:1883' of NO_PROXY/);
  assert.match(via('mqtts://broker.plant.local'), /through the proxy http:\/\/secure:3128/);
  assert.equal(via('mqtts://x.example.com', false), 'direct (control.upstream.proxy: false)');
  assert.match(via('mqtt://x.example.com', 'http://other:8080'), /proxy http:\/\/other:8080 \(from control\.upstream\.proxy\)/);
});
