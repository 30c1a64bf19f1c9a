// NATS JetStream destination: every record is published with an acknowledgement and the message
// id "<stream>:<seq>" (Nats-Msg-Id), so JetStream drops resends of a record within the stream's
// duplicate window. The connection is made in the background: start() never blocks on the
// network, and send() throws (retryable) while disconnected.
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions, JetStreamClient, NatsConnection, PubAck } from 'nats';
import { z } from '../../../core/zod.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, GatehouseError } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import { recordId, type Destination, type DestinationLimits, type RecordResult } from '../types.js';
import { OK, compileTemplate, destinationMetrics, networkHint, renderTemplate, shortError } from './common.js';
import { withoutCredentials } from '../../../core/broker-url.js';

const MiB = 1024 * 1024;

/**
 * Why the nats client could not connect to a server URL as meant, or undefined: it fails each
 * attempt on a port that is not a number from 1 to 65535 ('Invalid URL', forever) and ignores a
 * scheme it does not know (htp:// connected as nats://).
 */
function natsServerProblem(server: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server);
  if (m && !['nats', 'tls', 'ws', 'wss'].includes(m[1]!.toLowerCase())) return `scheme '${m[1]}://' is not a NATS one: use nats://, tls://, ws:// or wss://`;
  let u: URL;
  try {
    u = new URL(m ? server : `nats://${server}`);
  } catch {
    return 'not a valid URL: the port must be a number from 1 to 65535, and @ : / in a user name or password percent-encoded (%40 %3A %2F)';
  }
  if (u.port === '0') return 'port 0 cannot be connected to: give the port of the NATS server (4222)';
  return undefined;
}

/** (A function: built with the schema that uses it, on first use.) */
const natsServerSchema = (): z.ZodType<string> =>
  z
    .string()
    .min(1)
    .superRefine((server, ctx) => {
      const p = natsServerProblem(server);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    });

// z.lazy: built on first use, so a gateway without this destination does not hold it (docs/benchmarks.md, "Idle footprint").
export const natsOptionsSchema = z.lazy(() =>
  z
    .strictObject({
      servers: z
        .union([natsServerSchema(), z.array(natsServerSchema()).min(1)])
        .default('nats://127.0.0.1:4222')
        .describe('NATS server URL(s), e.g. nats://host:4222 or tls://host:4222.'),
      subject: z
        .string()
        .min(1)
        .default('gatehouse.${stream}')
        .describe(
          "Subject template: ${stream}, ${key}, ${topic} ({stream} etc. still read, deprecated; the MQTT topic with '/' turned into '.', and '.', '*', '>', spaces or empty levels turned into '_').",
        ),
      stream: z.string().min(1).default('GATEHOUSE').describe('JetStream stream that must capture the subjects (checked on connect).'),
      createStream: z
        .boolean()
        .default(false)
        .describe(
          'Create the JetStream stream if it is missing (file storage, subjects derived from the subject template, e.g. gatehouse.>). Default: require it to exist.',
        ),
      duplicateWindowMs: z
        .number()
        .int()
        .positive()
        .default(120_000)
        .describe('Deduplication window of a stream created by createStream: resends within it are dropped by Nats-Msg-Id.'),
      credsFile: z.string().min(1).optional().describe('NATS .creds file (JWT + NKey seed) for decentralised auth.'),
      user: z.string().optional().describe('User name (with password).'),
      password: z.string().optional().describe('Password. Never logged or shown in status.'),
      token: z.string().optional().describe('Auth token. Never logged or shown in status.'),
      tls: z
        .strictObject({
          caFile: z.string().optional().describe('CA bundle to verify the server.'),
          certFile: z.string().optional().describe('Client certificate (mutual TLS).'),
          keyFile: z.string().optional().describe('Client key (mutual TLS).'),
        })
        .optional()
        .describe('TLS files; also implied by a tls:// server URL.'),
      name: z.string().default('gatehouse').describe('Connection name shown by the server.'),
      ackTimeoutMs: z.number().int().positive().default(5000).describe('Time to wait for each JetStream publish acknowledgement.'),
      reconnectWaitMs: z.number().int().positive().default(2000).describe('Wait between reconnect attempts (the client adds jitter).'),
      maxRecords: z.number().int().min(1).max(10_000).default(500).describe('Records published concurrently per batch.'),
      maxRecordBytes: z
        .number()
        .int()
        .min(1)
        .max(64 * MiB)
        .default(MiB)
        .describe("Max payload of one record; keep at or below the server's max_payload (default 1 MiB)."),
      maxBatchBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB)
        .default(8 * MiB)
        .describe('Max summed payload bytes per batch.'),
    })
    .superRefine((o, ctx) => {
      // The stream createStream makes captures the template's literal head + '>': without a head
      // ('${stream}'), that is '>', every subject, which the server refuses (upstream audit).
      if (o.createStream && streamSubjects(o.subject)[0] === '>')
        ctx.addIssue({
          code: 'custom',
          path: ['subject'],
          message: `with createStream, the subject template needs a literal head ending with '.' (e.g. gatehouse.\${stream}): the stream made for '${o.subject}' would capture '>', every subject, which the server refuses`,
        });
    })
    .describe('NATS JetStream destination (publish with acknowledgement and Nats-Msg-Id).'),
);

export type NatsOptions = z.infer<typeof natsOptionsSchema>;

/** MQTT topic -> NATS subject tokens: '/' -> '.', characters illegal in a token -> '_'. */
export function topicToSubject(topic: string): string {
  let s = '';
  let levelLen = 0;
  for (let i = 0; i < topic.length; i++) {
    const c = topic[i]!;
    if (c === '/') {
      s += levelLen === 0 ? '_.' : '.';
      levelLen = 0;
      continue;
    }
    s += c === '.' || c === '*' || c === '>' || c === ' ' || c === '\t' ? '_' : c;
    levelLen++;
  }
  return levelLen === 0 ? `${s}_` : s;
}

/** Subjects a created stream captures: the template's literal head + '>' (e.g. 'gatehouse.>'). */
export function streamSubjects(template: string): string[] {
  const open = template.indexOf('{');
  if (open < 0) return [template];
  const head = template.slice(0, open);
  const dot = head.lastIndexOf('.');
  return [dot < 0 ? '>' : `${head.slice(0, dot)}.>`];
}

/** Connection errors that mean the server refused who we are. */
const AUTH_ERROR = /authori[sz]ation|authentication|account expired|user authentication|permissions/i;

const NATS_CODES: Record<string, string> = {
  AUTHORIZATION_VIOLATION: "Authorization Violation: the server refused this gateway's credentials",
  AUTHENTICATION_EXPIRED: 'Authentication Expired: the credentials have expired',
  ACCOUNT_EXPIRED: 'Account Expired',
};

/** A client status error code (AUTHORIZATION_VIOLATION) as words for status and logs. */
function describeNatsCode(code: string): string {
  return NATS_CODES[code] ?? code;
}

/** JetStream's refusals of a stream at its limits (discard: new). */
const STREAM_FULL = /maximum (messages|bytes|messages per subject) exceeded|insufficient resources|resource limits exceeded/i;

interface NatsErrorLike {
  code?: string;
  api_error?: { err_code?: number; code?: number; description?: string };
  message?: string;
}

function recordFailure(err: unknown, bytes: number, maxPayload: number | undefined): RecordResult {
  const e = (typeof err === 'object' && err !== null ? err : {}) as NatsErrorLike;
  const error = shortError(err);
  // What the bare MAX_PAYLOAD_EXCEEDED leaves out: the sizes, and what to change.
  if (e.code === 'MAX_PAYLOAD_EXCEEDED')
    return {
      ok: false,
      retryable: false,
      error: `${error}: record of ${bytes} bytes exceeds the server's max_payload of ${maxPayload ?? '?'} bytes; raise max_payload in the NATS server's config, or set the destination's maxRecordBytes to at most it`,
      code: 'TOO_LARGE',
    };
  if (e.api_error?.err_code === 10054)
    return { ok: false, retryable: false, error: `${error} (record of ${bytes} bytes; check the JetStream stream's max_msg_size)`, code: 'TOO_LARGE' };
  // A stream at its limits (discard: new) refuses with the same 503 as no stream at all, told apart
  // by its API error: the destination is full, not the record at fault nor the subject wrong. Like
  // throttling, never counted against the record, and the loop slows down until there is room.
  const api = e.api_error;
  if (api && typeof api.description === 'string' && STREAM_FULL.test(api.description))
    return {
      ok: false,
      retryable: true,
      error: `JetStream refused the record: ${api.description} (the stream is at its limits with discard: new): raise its max_msgs/max_bytes or let its consumers remove messages; records wait in the local stream`,
      code: 'THROTTLED',
    };
  if (e.code === '503' && !api) return { ok: false, retryable: true, error: `no JetStream stream captures this subject: ${error}`, code: 'NO_STREAM' };
  if (e.code === 'TIMEOUT') return { ok: false, retryable: true, error, code: 'TIMEOUT' };
  return { ok: false, retryable: true, error, code: e.code ?? 'NATS_ERROR' };
}

export function createNatsDestination(o: NatsOptions, deps: RuntimeDeps): Destination {
  const servers = Array.isArray(o.servers) ? o.servers : [o.servers];
  // Strip any user:pass@ from URLs shown in status.
  const target = `nats:${servers.map(withoutCredentials).join(',')}/${o.stream}`;
  const limits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const metrics = destinationMetrics(deps.registry);
  const log = deps.logger.child({ component: 'destination', kind: 'nats', target });
  const subjectParts = compileTemplate(o.subject, ['stream', 'key', 'topic'], 'nats.subject', (m) => log.warn(m));
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let connected = false;
  let stopping = false;
  let started = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let firstAttempts = 0;
  let streamReady: Promise<void> | undefined;
  /** Why the last connection attempt failed or the connection dropped, for send()'s error; cleared on connect. */
  let connError: string | undefined;
  let connOptions: ConnectionOptions | undefined;

  // The nats client (~0.5 MiB of JS) loads when a NATS destination starts, not with the gateway.
  let lib: typeof import('nats');

  async function connectOptions(): Promise<ConnectionOptions> {
    lib ??= await import('nats');
    const { credsAuthenticator } = lib;
    const co: ConnectionOptions = {
      servers,
      name: o.name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectWaitMs,
      timeout: 5000,
      // Keep reconnecting through authorization errors: by default the client gives up for good
      // after the same auth error twice, and a server whose authorization was wrong for a moment
      // (a reload, a rotation) left this destination disconnected until the gateway restarted.
      ignoreAuthErrorAbort: true,
    };
    if (o.credsFile) co.authenticator = credsAuthenticator(new Uint8Array(await readFile(o.credsFile)));
    if (o.user !== undefined) {
      co.user = o.user;
      co.pass = o.password;
    }
    if (o.token !== undefined) co.token = o.token;
    if (o.tls) co.tls = { ...o.tls };
    return co;
  }

  async function watchStatus(c: NatsConnection): Promise<void> {
    for await (const s of c.status()) {
      if (s.type === 'disconnect') {
        connected = false;
        streamReady = undefined;
        log.warn('NATS disconnected');
      } else if (s.type === 'reconnect') {
        connected = true;
        connError = undefined;
        log.info('NATS reconnected');
      } else if (s.type === 'error') {
        connError = describeNatsCode(String(s.data));
        log.warn({ err: connError }, 'NATS server error');
      }
    }
  }

  /** The client closed for good (it should not: it reconnects forever): start over, unless stopping. */
  function watchClosed(c: NatsConnection): void {
    void c.closed().then((err) => {
      if (stopping || nc !== c) return;
      nc = undefined;
      js = undefined;
      connected = false;
      streamReady = undefined;
      connError = err ? shortError(err) : 'the connection was closed';
      log.warn({ err: connError }, 'NATS connection closed; connecting again');
      if (connOptions) scheduleConnect(connOptions);
    });
  }

  function scheduleConnect(co: ConnectionOptions): void {
    const cap = Math.min(30_000, o.reconnectWaitMs * 2 ** Math.min(firstAttempts++, 10));
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        if (!stopping) firstConnect(co);
      },
      Math.max(50, Math.floor(Math.random() * cap)),
    );
  }

  function ensureStream(): Promise<void> {
    streamReady ??= (async () => {
      const jsm = await nc!.jetstreamManager({ timeout: o.ackTimeoutMs });
      try {
        await jsm.streams.info(o.stream);
      } catch (err) {
        const e = err as NatsErrorLike;
        const missing = e.api_error?.err_code === 10059 || e.code === '404';
        if (!missing) throw err;
        if (!o.createStream) {
          throw new GatehouseError('GH_DESTINATION_CONFIG', `JetStream stream '${o.stream}' does not exist`, {
            where: 'nats.stream',
            hint: `create it (nats stream add ${o.stream} --subjects '${streamSubjects(o.subject)[0]}') or set createStream: true`,
          });
        }
        await jsm.streams.add({ name: o.stream, subjects: streamSubjects(o.subject), duplicate_window: lib.nanos(o.duplicateWindowMs) });
        log.info({ stream: o.stream, subjects: streamSubjects(o.subject) }, 'created JetStream stream');
      }
    })().catch((err: unknown) => {
      streamReady = undefined;
      throw err;
    });
    return streamReady;
  }

  /**
   * First connection: our own retry loop (backoff with full jitter, capped) instead of
   * waitOnFirstConnect, whose endless attempt cannot be cancelled by stop(). Once connected,
   * the client's own reconnect logic takes over.
   */
  function firstConnect(co: ConnectionOptions): void {
    lib.connect(co).then(
      (c) => {
        if (stopping) {
          void c.close();
          return;
        }
        nc = c;
        js = c.jetstream({ timeout: o.ackTimeoutMs });
        connected = true;
        connError = undefined;
        firstAttempts = 0;
        void watchStatus(c);
        watchClosed(c);
        log.info('NATS connected');
      },
      (err: unknown) => {
        if (stopping) return;
        const code = (err as NatsErrorLike | undefined)?.code;
        connError = code !== undefined && NATS_CODES[code] !== undefined ? NATS_CODES[code] : shortError(err);
        log.warn({ err: connError }, 'NATS connection failed; retrying');
        scheduleConnect(co);
      },
    );
  }

  function subjectOf(r: StoredRecord): string {
    return renderTemplate(subjectParts, (f) => (f === 'stream' ? r.stream : f === 'key' ? (r.key ? topicToSubject(r.key) : '_') : topicToSubject(r.topic)));
  }

  return {
    kind: 'nats',
    target,
    limits,
    async start() {
      if (started) return;
      started = true;
      stopping = false;
      const co = await connectOptions();
      connOptions = co;
      firstConnect(co);
    },
    async stop() {
      stopping = true;
      started = false;
      connOptions = undefined;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      const c = nc;
      nc = undefined;
      js = undefined;
      connected = false;
      streamReady = undefined;
      if (!c) return;
      // drain() waits for the server: bound it, then close regardless (the server may be down).
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([c.drain().catch(() => undefined), bounded]);
      clearTimeout(timer);
      if (!c.isClosed()) await c.close().catch(() => undefined);
    },
    async send(records, signal) {
      if (!nc || !js || !connected || nc.isClosed()) {
        metrics.calls.inc({ kind: 'nats', target, outcome: 'retryable' });
        const why = connError;
        throw ERRORS.GH_EXPORT_RETRYABLE(
          { reason: `NATS is not connected${why ? ` (${why})` : ''}` },
          {
            where: target,
            hint:
              why && AUTH_ERROR.test(why)
                ? "the server refused the credentials: check the destination's user/password, token or credsFile and the server's authorization; the client keeps reconnecting"
                : `${networkHint(why, { ca: 'tls.caFile', address: 'servers' }) ?? 'check that the NATS server is reachable'}; the client keeps reconnecting`,
          },
        );
      }
      try {
        await ensureStream();
      } catch (err) {
        metrics.calls.inc({ kind: 'nats', target, outcome: 'retryable' });
        if (err instanceof GatehouseError) throw err;
        throw ERRORS.GH_EXPORT_RETRYABLE({ reason: `JetStream stream check failed: ${shortError(err)}` }, { where: target, cause: err });
      }
      signal.throwIfAborted();
      const client = js;
      const pending: Promise<PubAck>[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        const h = lib.headers();
        h.set('Gatehouse-Topic', r.topic);
        pending[i] = client.publish(subjectOf(r), r.payload, { msgID: recordId(r), headers: h, timeout: o.ackTimeoutMs });
      }
      const settled = await Promise.allSettled(pending);
      const results: RecordResult[] = new Array(records.length);
      let failed = 0;
      let duplicates = 0;
      for (let i = 0; i < settled.length; i++) {
        const s = settled[i]!;
        if (s.status === 'fulfilled') {
          results[i] = OK;
          if (s.value.duplicate) duplicates++;
        } else {
          failed++;
          const res = recordFailure(s.reason, records[i]!.payload.length, nc?.info?.max_payload);
          results[i] = res;
          metrics.recordFailures.inc({ kind: 'nats', target, code: res.ok ? 'OK' : (res.code ?? 'NATS_ERROR') });
        }
      }
      if (duplicates > 0) log.debug({ duplicates }, 'JetStream dropped resent records as duplicates');
      metrics.calls.inc({ kind: 'nats', target, outcome: failed === 0 ? 'ok' : failed === records.length ? 'retryable' : 'partial' });
      return results;
    },
  };
}
