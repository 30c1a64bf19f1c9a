// Shared by the AWS destinations (kinesis, firehose, s3): connection options, SDK client
// configuration, and the whole-call error classification (retryable -> throw, else permanent).
// HTTP/1.1 handler for every client: the Kinesis client defaults to HTTP/2, which plain-http
// endpoints (kinesalite, local proxies) do not speak; PutRecords needs no HTTP/2 features.
import { nodeHttps } from '../../../core/tls-modules.js';
import { Readable, Transform } from 'node:stream';
import { readClientTlsFiles } from '../../../core/tls-files.js';
import { z } from '../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../core/timer-delay.js';
import { shortError, type CallFailureReason } from './common.js';
import { destinationProxyOption } from '../proxy-options.js';
import { routeFor, type ProxySettings, type Route } from '../proxy.js';
import { proxyAgents } from '../proxy-agent.js';
import { bracketedUrl } from '../../../core/bind-host.js';

/** Options every AWS destination accepts. Credentials default to the SDK's provider chain. (A function: built with the schema that uses it.) */
export const awsConnectionShape = () => ({
  region: z.string().min(1).default('us-east-1').describe('AWS region of the service (e.g. eu-west-1).'),
  endpoint: bracketedUrl(
    // 'localhost:4567' (the scheme forgotten) is a URL of scheme 'localhost:': only http(s) is an endpoint.
    z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:4567' }),
  )
    .optional()
    .describe('Endpoint override for a local or compatible service (kinesalite, s3rver, MinIO, a VPC endpoint). Default: the AWS endpoint of the region.'),
  accessKeyId: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Explicit access key id (for local peers). Default: the AWS SDK default provider chain (environment, shared profile, SSO, container/instance metadata).',
    ),
  secretAccessKey: z.string().min(1).optional().describe('Explicit secret access key, with accessKeyId. Never logged or shown in status.'),
  sessionToken: z.string().min(1).optional().describe('Optional session token with explicit temporary credentials.'),
  caFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      "PEM of a private CA to verify an https endpoint against (MinIO, a VPC or proxy endpoint certified by your own CA), in place of the system's CAs; relative to the config file, read at start.",
    ),
  requestTimeoutMs: z
    .number()
    .int()
    .positive()
    .max(MAX_TIMER_MS, TIMER_TOO_LONG)
    .default(30_000)
    .describe(
      'Timeout of one call: of silence on its connection, and of the whole call beyond the time its upload takes at 64 kbit/s (a reply trickled byte by byte times out too). A timed-out call is retried by the exporter loop.',
    ),
  sdkMaxAttempts: z
    .number()
    .int()
    .min(1)
    .max(10)
    .default(1)
    .describe(
      'Attempts the AWS SDK makes itself per call. Default 1: the exporter loop already retries with backoff and jitter, and SDK retries would multiply them.',
    ),
  proxy: destinationProxyOption(),
});

export interface AwsConnectionOptions {
  region: string;
  endpoint?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  caFile?: string | undefined;
  requestTimeoutMs: number;
  sdkMaxAttempts: number;
  proxy?: false | string | undefined;
}

/**
 * The route (direct or through the site's proxy, proxy.ts) of an AWS destination: its endpoint, or
 * the service's regional endpoint (https://<service>.<region>.amazonaws.com) that NO_PROXY entries
 * such as .amazonaws.com are matched against.
 */
export function awsRoute(o: AwsConnectionOptions, service: string, settings: ProxySettings | undefined): Route {
  return routeFor(new URL(o.endpoint ?? `https://${service}.${o.region}.amazonaws.com`), o.proxy, settings);
}

/** Both keys or neither: checked in each schema's superRefine. */
export function checkCredentialPair(o: { accessKeyId?: string | undefined; secretAccessKey?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['secretAccessKey'],
      message: 'accessKeyId and secretAccessKey go together: give both, or neither to use the default provider chain',
    });
  }
}

/**
 * The private CA of `caFile`, read and checked as the handshake will use it (a key or a missing
 * file is a config error naming caFile): called when the destination is made, so check-config
 * finds it too.
 */
export function awsCa(o: AwsConnectionOptions, subject: string): Buffer | undefined {
  return readClientTlsFiles(
    { ca: o.caFile },
    { where: { ca: 'destination.caFile', cert: 'destination.certFile', key: 'destination.keyFile' }, subject, code: 'GH_DESTINATION_CONFIG' },
  ).ca;
}

/**
 * Config object for any @aws-sdk/client-* constructor. The SDK modules are imported only when a
 * destination starts (here and in each destination's start()): a gateway that exports to files
 * does not carry three AWS clients in memory (~30 MiB on a Pi).
 */
export async function awsClientConfig(
  o: AwsConnectionOptions,
  ca: Buffer | undefined,
  extra: Record<string, unknown> = {},
  route: Route = { kind: 'direct', why: '' },
): Promise<Record<string, unknown>> {
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  type Handle = InstanceType<typeof NodeHttpHandler>['handle'];
  // The SDK collects a response body whole, however long: an endpoint that is not the service (a
  // captive portal, a proxy, a hostile peer) sending an endless body took GBs in seconds, then
  // crashed the gateway (RangeError: Invalid typed array length). Bodies past the limit fail the call.
  class BoundedHandler extends NodeHttpHandler {
    override async handle(...args: Parameters<Handle>): Promise<Awaited<ReturnType<Handle>>> {
      const out = await super.handle(...args);
      const body: unknown = out.response.body;
      if (body instanceof Readable) out.response.body = boundedBody(body, MAX_AWS_RESPONSE_BYTES, o.endpoint ?? `the ${o.region} endpoint`);
      return out;
    }
  }
  // Through the site's proxy: the SDK does not read HTTPS_PROXY itself, its handler takes agents.
  // A CONNECT the proxy never answers ends with the SDK's connectionTimeout (the request it was for).
  const connectionTimeout = Math.min(o.requestTimeoutMs, 10_000);
  const agents = route.kind === 'proxy' ? await proxyAgents(route, { keepAlive: true, ca, connectTimeoutMs: connectionTimeout }) : undefined;
  const cfg: Record<string, unknown> = {
    region: o.region,
    maxAttempts: o.sdkMaxAttempts,
    requestHandler: new BoundedHandler({
      requestTimeout: o.requestTimeoutMs,
      connectionTimeout,
      ...(agents ? { httpAgent: agents.http, httpsAgent: agents.https } : ca ? { httpsAgent: new (nodeHttps().Agent)({ keepAlive: true, ca }) } : {}),
    }),
    ...extra,
  };
  if (o.endpoint) cfg.endpoint = o.endpoint;
  if (o.accessKeyId && o.secretAccessKey) {
    cfg.credentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, sessionToken: o.sessionToken };
  }
  return cfg;
}

/** Largest AWS response body read: PutRecords' answer for 500 records is ~60 KB, PutObject's is empty. */
export const MAX_AWS_RESPONSE_BYTES = 1024 * 1024;

/**
 * `body` passed through, failing (and closing the connection) once it passes `max` bytes with a
 * ResponseTooLarge error, a setup fault: the endpoint is not the service.
 */
function boundedBody(body: Readable, max: number, endpoint: string): Readable {
  let size = 0;
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size <= max) return done(null, chunk);
      const err = new Error(
        `response from ${endpoint} over ${max / 1024 / 1024} MiB (not read further): an AWS API answers far less; check the destination's endpoint`,
      );
      err.name = 'ResponseTooLarge';
      body.destroy();
      done(err);
    },
  });
  body.on('error', (err) => bounded.destroy(err));
  return body.pipe(bounded);
}

/** Shape of the SDK's service exceptions we look at (any thrown value may lack all of it). */
interface AwsErrorLike {
  name?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'RequestThrottled',
  'RequestThrottledException',
  'KMSThrottlingException',
  'ServiceUnavailableException',
]);
// Client errors that heal by themselves (credentials refresh, a stream still being created).
const TRANSIENT_CLIENT = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestTimeout',
  'RequestTimeoutException',
  'ResourceInUseException',
  'ResourceNotFoundException',
  'NoSuchBucket',
  'RequestExpired',
]);

// The call never reached the service as this gateway is set up: credentials (unknown key, wrong
// secret, expired or revoked), permissions, a clock off by minutes (signatures expire), the wrong
// region or endpoint. No record is at fault and every record would fail the same way: the backlog
// is held (the last error says what to fix) instead of being dead-lettered wholesale.
const SETUP = new Set([
  // credentials and signatures
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthFailure',
  'CredentialsProviderError',
  // permissions
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'AccountProblem',
  'NotAuthorized',
  'UnauthorizedOperation',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'InvalidKMSResourceException',
  // clock
  'RequestTimeTooSkewed',
  // region or endpoint
  'AuthorizationHeaderMalformed',
  'PermanentRedirect',
  'TemporaryRedirect',
  'Redirect',
  'IllegalLocationConstraintException',
  // an answer far larger than the service gives (boundedBody)
  'ResponseTooLarge',
]);

const SETUP_STATUS = new Set([301, 307, 401, 403, 404, 405]);

export interface AwsErrorClass {
  retryable: boolean;
  /** A fault of the gateway's setup (credentials, permissions, clock, region, endpoint): retryable, with a hint. */
  setup?: boolean;
  /** The named stream, delivery stream or bucket does not exist (here): retryable, with a hint. */
  missing?: boolean;
  /** 'THROTTLED' for throttling, else the service's error name. */
  code: string;
  message: string;
}

/**
 * Whole-call failure: throttling, 5xx, network and timeouts are retryable (the caller throws,
 * the loop backs off); validation errors are permanent for the records.
 * ResourceNotFound/NoSuchBucket count as retryable: a missing stream or bucket is a setup fault
 * that should hold the backlog (visible as last error), not dead-letter every record; so are
 * wrong credentials, permissions, clock, region or endpoint (`setup`, see SETUP).
 */
export function classifyAwsError(err: unknown): AwsErrorClass {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
  const name = e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const message = shortError(err);
  if (THROTTLING.has(name) || status === 429) return { retryable: true, code: 'THROTTLED', message };
  if (name === 'ResourceNotFoundException' || name === 'NoSuchBucket') return { retryable: true, missing: true, code: name, message };
  if (TRANSIENT_CLIENT.has(name) || status === 408) return { retryable: true, code: name, message };
  if (status !== undefined && status >= 500) return { retryable: true, code: name, message };
  // 301/307: another region; 401/403: credentials or permissions; 404/405: the endpoint is not the
  // service (a web server's page; the service names a missing stream or bucket, handled above).
  // A response the SDK cannot parse (HTML where JSON or XML was expected) is not the service either.
  if (SETUP.has(name) || (status !== undefined && SETUP_STATUS.has(status)) || (status !== undefined && name === 'SyntaxError')) {
    return { retryable: true, setup: true, code: name, message };
  }
  if (e.$fault === 'client' || (status !== undefined && status >= 400)) return { retryable: false, code: name, message };
  // No HTTP status: network error, timeout, abort, or an unparseable response: retryable.
  return { retryable: true, code: name, message };
}

/** The reason label of a whole call that failed with `err`, classified as `c` (common.ts CallFailureReason). */
export function awsCallReason(err: unknown, c: AwsErrorClass): CallFailureReason {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorLike;
  const name = e.name ?? e.code ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (c.code === 'THROTTLED') return 'throttled';
  if (status === 401 || status === 403 || (c.setup && AUTH_NAME.test(name)) || /^ExpiredToken/.test(name) || name === 'CredentialsProviderError') return 'auth';
  if (status === 408 || /Timeout/i.test(name)) return 'timeout';
  if (status !== undefined && status >= 500) return 'server';
  if (status !== undefined || c.setup || c.missing) return 'client';
  return 'network';
}

/** Setup errors that are about credentials, signatures or permissions (the rest: clock, region, endpoint). */
const AUTH_NAME =
  /Signature|Token|AccessKey|Authentication|Auth|Credential|AccessDenied|AllAccessDisabled|AccountProblem|NotAuthorized|Unauthorized|UnrecognizedClient|KMS/;
