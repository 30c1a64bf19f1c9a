// Small client of the running gateway's admin API, for CLI commands (streams, rules list/apply).
//
// HTTPS (admin.tls): the CLI runs on the gateway's own machine with the same config file, so it
// trusts the certificate that file names, by its exact fingerprint, whatever name it carries (the
// CLI reaches a wildcard bind through 127.0.0.1, which a certificate made for the Pi's name does
// not list); the chain must still verify (against the system's CAs, the certificate file itself
// for a self-signed one, and GATEHOUSE_ADMIN_CA). Any other certificate must verify and match the
// host name as usual. node:https, not fetch: fetch cannot be given a CA or an identity check.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { nodeHttp } from '../../core/node-http.js';
import { request as httpsRequest } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, rootCertificates, type PeerCertificate } from 'node:tls';
import { loadConfig } from '../config/index.js';
import { ERROR_CATALOGUE, ERRORS, GatehouseError, errorMessage, type ErrorCode } from '../../core/errors.js';
import { DATE_ERRORS, pinnedDespiteDates } from './admin-pinned-dates.js';

/**
 * What ADMIN_COMMAND_OPTIONS mean, in the --help of every command that talks to the running
 * gateway: only the rules commands said it, so `status --help` left a user refused for the token
 * (401) without GATEHOUSE_ADMIN_TOKEN or --config's admin.token.
 */
export const ADMIN_FLAGS_HELP = `  --admin URL      the gateway's admin API (default http://127.0.0.1:9883)
  --config FILE    read the admin address, admin.token and admin.tls's certificate from the
                   gateway's config file
  --token T        admin bearer token (else GATEHOUSE_ADMIN_TOKEN, else admin.token of --config)`;

/** --json, for the commands whose answer it prints as the API gave it. */
export const JSON_FLAG_HELP = '  --json           print the admin API answer, as JSON, instead of text';

/** The options of every command that talks to the running gateway (streams, jobs): parseCliArgs' shape. */
export const ADMIN_COMMAND_OPTIONS = {
  admin: { type: 'string' },
  config: { type: 'string', short: 'c' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface AdminTarget {
  url: string;
  token?: string;
  /** CA certificates (PEM) trusted besides the system's: the admin's own certificate file, GATEHOUSE_ADMIN_CA. */
  ca?: Buffer[];
  /** SHA-256 fingerprints ("AB:CD:...") of certificates accepted whatever host name they carry. */
  pinned?: string[];
}

/**
 * The whole request, from the connect to the answer's last byte, ends within `ms` (15 s). A
 * socket idle timeout (req.setTimeout) restarted at each byte: a gateway stuck mid-answer that
 * sent a byte every 10 s held `gatehouse status` for ever. Settable for tests (a stalled answer
 * told in a fraction of a second, not 15 s).
 */
export const ADMIN_DEADLINE = { ms: 15_000 };

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new GatehouseError('GH_ADMIN_UNREACHABLE', `cannot read ${what} ${path}: ${errorMessage(err)}`, {
      hint: 'check the path and its permissions (the CLI must be able to read it)',
    });
  }
}

/** The fingerprint of the first certificate (the leaf) of a PEM file, or undefined when it does not parse. */
function leafFingerprint(pem: Buffer): string | undefined {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
}

/** --admin must be an http(s) URL: 'HOST:PORT' or a typo is the user's argument, not an unreachable gateway. */
function checkAdminUrl(adminUrl: string): void {
  let protocol = '';
  let port = '';
  try {
    ({ protocol, port } = new URL(adminUrl));
  } catch {
    // not a URL at all: refused below
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new GatehouseError('GH_ARG_INVALID', `--admin '${adminUrl}' is not an http:// or https:// URL`, {
      where: '--admin',
      hint: 'e.g. --admin http://127.0.0.1:9883 (https:// with admin.tls), or --config FILE to take the address from the config',
    });
  }
  // node's http client takes port 0 for "none" and connects to 80: the error would name a port
  // the user never gave
  if (port === '0') {
    throw new GatehouseError('GH_ARG_INVALID', `--admin '${adminUrl}' names port 0, which no server listens on`, {
      where: '--admin',
      hint: "give the port the gateway listens on: its 'admin API listening' log line names it (admin.port, default 9883)",
    });
  }
}

/**
 * --admin URL wins; else the admin address of --config; else the default. The token: --token, else
 * the GATEHOUSE_ADMIN_TOKEN environment variable, else admin.token of --config. Extra CA:
 * GATEHOUSE_ADMIN_CA (a PEM file), for an admin certificate issued by a private CA.
 */
export async function resolveAdmin(adminUrl: string | undefined, configFile: string | undefined, token?: string): Promise<AdminTarget> {
  const envToken = token ?? process.env.GATEHOUSE_ADMIN_TOKEN;
  const envCa = process.env.GATEHOUSE_ADMIN_CA ? [readPem(process.env.GATEHOUSE_ADMIN_CA, 'GATEHOUSE_ADMIN_CA')] : [];
  if (adminUrl) {
    checkAdminUrl(adminUrl);
    return { url: adminUrl.replace(/\/$/, ''), ...(envToken ? { token: envToken } : {}), ...(envCa.length ? { ca: envCa } : {}) };
  }
  const config = await loadConfig(configFile);
  // Nothing listens then: 'cannot reach ... start the gateway' would send the user the wrong way.
  if (!config.admin.enabled) {
    throw new GatehouseError('GH_ADMIN_UNREACHABLE', `the admin API is disabled in ${configFile ?? 'the default configuration'} (admin.enabled: false)`, {
      where: 'admin.enabled',
      hint: 'set admin.enabled: true and restart the gateway: this command talks to it through its admin API',
    });
  }
  // admin.port 0: the gateway took a free port at its start, which the file does not say (and
  // http://host:0 would be sent to port 80, an ECONNREFUSED naming a port nobody configured)
  if (config.admin.port === 0) {
    throw new GatehouseError(
      'GH_ADMIN_UNREACHABLE',
      `${configFile ?? 'the default configuration'} has admin.port: 0 (a free port picked at each start), so it does not say where the admin API listens`,
      {
        where: 'admin.port',
        hint: "pass --admin http://127.0.0.1:PORT with the port of the gateway's 'admin API listening' log line, or give admin.port a fixed port (default 9883)",
      },
    );
  }
  const host = config.admin.host === '0.0.0.0' || config.admin.host === '::' ? '127.0.0.1' : config.admin.host;
  const t = envToken ?? config.admin.token;
  const tls = config.admin.tls;
  const ownCert = tls ? readPem(tls.cert, 'admin.tls.cert') : undefined;
  const pin = ownCert ? leafFingerprint(ownCert) : undefined;
  return {
    url: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}`,
    ...(t ? { token: t } : {}),
    ...(ownCert || envCa.length ? { ca: [...envCa, ...(ownCert ? [ownCert] : [])] } : {}),
    ...(pin ? { pinned: [pin] } : {}),
  };
}

interface RawResponse {
  status: number;
  contentType: string;
  text: string;
}

/**
 * One request; rejects on a connection, TLS or timeout failure (the caller words it).
 * `despiteDates`: the pinned certificate is taken outside its dates (admin-pinned-dates.ts).
 */
function send(
  target: AdminTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
  despiteDates = false,
): Promise<RawResponse> {
  const url = new URL(`${target.url}${path}`);
  const secure = url.protocol === 'https:';
  const pinned = target.pinned ?? [];
  // agent: false, no shared agent: a reused connection or TLS session skips the identity check,
  // and the CLI makes a request or two per run.
  const options: RequestOptions & Record<string, unknown> = { method, headers, agent: false };
  const ca = target.ca?.length ? [...rootCertificates, ...target.ca.map((b) => b.toString())] : undefined;
  if (secure && despiteDates) {
    // Its own connection, no agent (none pools it either): the socket is checked before the request is written.
    delete options.agent;
    options.createConnection = pinnedDespiteDates(pinned, ca);
  } else if (secure) {
    if (ca) options.ca = ca;
    options.checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined =>
      pinned.includes(cert.fingerprint256) ? undefined : checkServerIdentity(host, cert);
  }
  const deadlineMs = ADMIN_DEADLINE.ms;
  return new Promise((resolve, reject) => {
    let received: { status: number; bytes: number } | undefined;
    const req = (secure ? httpsRequest : nodeHttp.request)(url, options, (res: IncomingMessage) => {
      received = { status: res.statusCode ?? 0, bytes: 0 };
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (received) received.bytes += c.length;
      });
      res.on('end', () => {
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? 'no content-type', text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    function fail(err: Error): void {
      clearTimeout(deadline);
      reject(err);
    }
    // Connected or not tells a gateway (or another service) that holds the request from an address
    // nothing answers at (a host down, a firewall dropping): not the same fix; an answer begun
    // and not finished is a third case (a gateway stuck mid-answer).
    const deadline = setTimeout(() => {
      const s = `${deadlineMs / 1000} s`;
      const connected = req.socket !== null && !req.socket.connecting;
      const [message, timedOut] = received
        ? [`connected, but the answer (status ${received.status}, ${received.bytes} bytes of body so far) did not finish within ${s}`, 'stalled']
        : connected
          ? [`connected, but no answer within ${s}`, 'answer']
          : [`no connection within ${s}`, 'connect'];
      const err = Object.assign(new Error(message), { timedOut });
      fail(err);
      req.destroy(err);
    }, deadlineMs);
    req.on('error', fail);
    req.end(body);
  });
}

/** What to do about a failed connection: TLS trust, the wrong scheme, or a gateway not running. */
function unreachableHint(target: AdminTarget, err: Error & { code?: string; timedOut?: 'connect' | 'answer' | 'stalled' }): string {
  const code = err.code ?? '';
  // A chain that verifies, for another name: trust is not the problem, the name in the URL is.
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'the certificate is trusted but made for other names (its altnames above): put one of them in --admin https://NAME:PORT, or run the CLI with --config FILE (it accepts admin.tls.cert whatever names it carries)';
  // Outside its dates by this machine's clock (--config takes its own certificate whatever they are: admin-pinned-dates.ts).
  if (DATE_ERRORS.has(code)) {
    if (target.pinned?.length)
      return 'the admin API serves a certificate outside its dates that is not the admin.tls.cert of --config: check that the URL is this gateway, and its certificate files';
    return `the admin API's certificate is ${code === 'CERT_HAS_EXPIRED' ? 'past its notAfter' : 'not valid yet'} by this machine's clock (or the clock is wrong: timedatectl): renew admin.tls.cert and run \`systemctl reload gatehouse\`; meanwhile run the CLI with --config FILE on the gateway's machine: it takes admin.tls.cert whatever its dates (docs/security.md#certificate-expiry)`;
  }
  if (/CERT|SELF_SIGNED|ISSUER|UNABLE_TO_VERIFY/.test(code)) {
    // --config already trusts admin.tls.cert: what is missing is the CA that issued it (or the gateway serves another certificate).
    if (target.pinned?.length)
      return "the admin API's certificate is not trusted: --config accepts admin.tls.cert only when its chain verifies: for a certificate issued by a private CA, set GATEHOUSE_ADMIN_CA to the PEM file of that CA (a self-signed admin.tls.cert needs nothing: then the gateway serves another certificate than that file)";
    return "the admin API's certificate is not trusted: run the CLI with --config FILE (it trusts admin.tls.cert), or set GATEHOUSE_ADMIN_CA to the PEM file of the CA that issued it";
  }
  // A gateway whose admin API holds admin.maxConnections closes a new connection as soon as it
  // accepts it (admin/server.ts): the same hang-up as a port that is not the admin API's.
  const full =
    "; or the admin API already holds admin.maxConnections connections (default 64: status pages, scrapers; the gateway's log says 'admin.maxConnections connections open'): try again when fewer are open";
  // A gateway from before GH_ADMIN_PLAIN_HTTP drops a plain HTTP request instead of answering it.
  const hungUp = code === 'ECONNRESET' || /socket hang up/.test(err.message);
  if (target.url.startsWith('http:') && hungUp)
    return `the port hung up on an HTTP request: it may be the MQTT port rather than the admin port (admin.port, default 9883), or the admin API serves HTTPS (admin.tls): use --admin https://HOST:PORT, or --config FILE${full}`;
  if (hungUp) return `the port hung up during the TLS handshake: it may not be the admin port (admin.port, default 9883)${full}`;
  if (err.timedOut === 'answer')
    return "something listens there but does not answer: a gateway that is overloaded or stuck (its log says why: journalctl -u gatehouse; sudo systemctl restart gatehouse), or another service's port (the admin API's is admin.port, default 9883)";
  if (err.timedOut === 'stalled')
    return 'the gateway began its answer and stopped sending it: a gateway that is overloaded or stuck (its log says why: journalctl -u gatehouse; sudo systemctl restart gatehouse), or a link that drops packets';
  if (err.timedOut === 'connect')
    return 'nothing accepted the connection: check the host in the URL, that it is up and that no firewall drops the admin port (admin.port, default 9883)';
  return ERROR_CATALOGUE.GH_ADMIN_UNREACHABLE.hint;
}

/** An answer that is not the admin API's: the address is another service's (the wrong port, most often). */
function notTheAdminApi(target: AdminTarget, method: string, path: string, res: RawResponse, missing?: string): GatehouseError {
  const excerpt = res.text.length > 80 ? `${res.text.slice(0, 80)}...` : res.text;
  const what = missing ? `JSON without '${missing}'` : `${res.contentType}`;
  return new GatehouseError(
    'GH_ADMIN_UNREACHABLE',
    `cannot reach the gateway's admin API at ${target.url}: ${method} ${path} answered ${res.status} with ${what}, not the admin API's answer: ${JSON.stringify(excerpt.replace(/\s+/g, ' '))}`,
    {
      hint: "another service answers at that address: point at the gateway's admin port with --admin http://HOST:PORT (admin.port, default 9883), or use --config FILE",
    },
  );
}

/**
 * GET a document of the admin API that carries `field` (/api/overview 'health', /api/streams
 * 'streams'...): any other answer, even JSON, is not the gateway's (the command would fail
 * reading it with a TypeError that names neither the cause nor the fix).
 */
export async function adminGet(target: AdminTarget, path: string, field: string): Promise<Record<string, unknown>> {
  const body = (await adminRequest(target, 'GET', path)) as Record<string, unknown>;
  if (!(field in body)) throw notTheAdminApi(target, 'GET', path, { status: 200, contentType: 'application/json', text: JSON.stringify(body) }, field);
  return body;
}

/** Request the admin API; statuses in `accept` (besides 2xx) return their body instead of throwing. */
export async function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body?: string | Buffer,
  contentType?: string,
  accept: number[] = [],
): Promise<unknown> {
  let res: RawResponse;
  const headers = {
    ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
    ...(contentType ? { 'content-type': contentType } : {}),
  };
  try {
    try {
      res = await send(target, method, path, headers, body);
    } catch (err) {
      // The certificate --config names, refused for its dates only: taken (the gateway says it expired, /healthz).
      if (!target.pinned?.length || !DATE_ERRORS.has(String((err as { code?: unknown }).code))) throw err;
      res = await send(target, method, path, headers, body, true);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new GatehouseError(
      'GH_ADMIN_UNREACHABLE',
      `cannot reach the gateway's admin API at ${target.url}: ${e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message}`,
      {
        hint: unreachableHint(target, e),
      },
    );
  }
  const { text } = res;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  // Every answer of the admin API, errors included, is a JSON object: anything else comes from
  // another service (a web server, a proxy's error page, a metrics exporter) at that address.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw notTheAdminApi(target, method, path, res);
  const e = typeof json === 'object' && json !== null ? (json as { error?: { code?: string; message?: string; hint?: string } }).error : undefined;
  // An http:// URL to a gateway that serves HTTPS (admin.tls): its answer says what to use
  // (http/plain-http-sniff.ts). An error even where the caller takes a 400 as a result (rules apply).
  if (res.status === 400 && e?.code === 'GH_ADMIN_PLAIN_HTTP')
    throw new GatehouseError('GH_ADMIN_PLAIN_HTTP', e.message ?? text, { hint: e.hint ?? ERROR_CATALOGUE.GH_ADMIN_PLAIN_HTTP.hint });
  if ((res.status < 200 || res.status > 299) && !accept.includes(res.status)) {
    // The gateway's own code when it gave one (401 is GH_ADMIN_UNAUTHORIZED, a refused rule set
    // the ruleset codes), so scripts see the cause, not a generic wrapper.
    const known = e?.code !== undefined && e.code in ERROR_CATALOGUE;
    const code = known ? (e?.code as ErrorCode) : 'GH_ADMIN_BAD_REQUEST';
    // The gateway's code is this error's code (printed before the message): not twice. One the
    // catalogue does not know (another version's) stays in the text.
    throw new GatehouseError(
      code,
      `admin API ${method} ${path} answered ${res.status}: ${[known ? undefined : e?.code, e?.message ?? text].filter(Boolean).join(' ')}`,
      e?.hint ? { hint: e.hint } : {},
    );
  }
  return json;
}

/**
 * GET a text document of the admin API (/metrics, for `gatehouse diagnose`): its body on a 2xx
 * answer; a connection failure or any other status is GH_ADMIN_UNREACHABLE / GH_ADMIN_BAD_REQUEST.
 */
export async function adminGetText(target: AdminTarget, path: string): Promise<string> {
  let res: RawResponse;
  try {
    res = await send(target, 'GET', path, target.token ? { authorization: `Bearer ${target.token}` } : {});
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new GatehouseError('GH_ADMIN_UNREACHABLE', `cannot reach the gateway's admin API at ${target.url}: ${e.message}`, {
      hint: unreachableHint(target, e),
    });
  }
  if (res.status < 200 || res.status > 299)
    throw ERRORS.GH_ADMIN_BAD_REQUEST({ reason: `admin API GET ${path} answered ${res.status}: ${res.text.slice(0, 200)}` });
  return res.text;
}
