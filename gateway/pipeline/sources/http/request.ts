// What an http source reads of a request: its target (POST /topics/<topic>?qos=1) and an NDJSON
// body's lines (its body: body.ts). Everything is checked before anything is submitted,
// so a refused request leaves nothing behind (an NDJSON body is all or nothing).
export const ROUTE = 'POST /topics/<topic>';

/** A refusal before anything was submitted: the HTTP status, what the client is told, the counter's outcome. */
export interface Refusal {
  status: 400 | 404 | 405 | 413 | 415;
  reason: string;
  outcome: 'bad-request' | 'not-found' | 'method' | 'too-large';
}

const refuse = (status: Refusal['status'], outcome: Refusal['outcome'], reason: string): Refusal => ({ status, outcome, reason });

/** Query parameters kept as user properties: at most this many, each name and value at most MAX_PARAM_CHARS. */
export const MAX_PARAMS = 16;
const MAX_PARAM_CHARS = 256;

export interface Target {
  topic: string;
  /** The query's other parameters (ChirpStack's ?event=up): the message's MQTT 5 user properties. */
  params: Record<string, string> | undefined;
  /** ?retain=true (AWS IoT's): published retained on the local broker (publishLocal only). */
  retain: boolean;
}

/** What parseTarget needs of the source's options. */
export interface TargetOptions {
  maxTopicLength: number;
  /** The source publishes on the local broker: ?retain=true is taken only then. */
  publishLocal: boolean;
}

/**
 * The MQTT topic a request posts to and its query's parameters, or why it is refused. `qos` is
 * AWS IoT's (0 or 1, ignored: every message is committed before the 200), `retain` is AWS IoT's
 * too (true: the local broker keeps the last one, so only with publishLocal), any other parameter
 * is kept as a user property of the message (get_user_properties('event')).
 */
export function parseTarget(method: string | undefined, rawUrl: string | undefined, o: TargetOptions): Target | Refusal {
  const { maxTopicLength } = o;
  let raw = rawUrl ?? '/';
  // absolute-form (a client through a proxy): http://host:port/topics/x
  const abs = /^https?:\/\/[^/]*/i.exec(raw);
  if (abs) raw = raw.slice(abs[0].length) || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  if (!path.startsWith('/topics/')) return refuse(404, 'not-found', `no route ${method ?? ''} ${path.slice(0, 200)}: this source takes ${ROUTE}`);
  if (method !== 'POST') return refuse(405, 'method', `method ${method ?? ''} not allowed on ${path.slice(0, 200)}: this source takes ${ROUTE}`);
  let topic: string;
  try {
    topic = decodeURIComponent(path.slice('/topics/'.length));
  } catch {
    return refuse(400, 'bad-request', 'the topic in the path is not valid percent-encoding (UTF-8)');
  }
  const problem = topicProblem(topic, maxTopicLength);
  if (problem) return refuse(400, 'bad-request', problem);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  let params: Record<string, string> | undefined;
  let retain = false;
  for (const [k, v] of query) {
    if (k === 'qos') {
      // AWS IoT's ?qos=: every message taken here is committed before the 200, whatever it says.
      if (v !== '0' && v !== '1')
        return refuse(400, 'bad-request', `qos=${v.slice(0, 20)}: give 0 or 1 (or nothing); every message is committed before the 200 either way`);
      continue;
    }
    if (k === 'retain') {
      const r = v.toLowerCase();
      if (r !== 'true' && r !== 'false') return refuse(400, 'bad-request', `retain=${v.slice(0, 20)}: give true or false`);
      retain = r === 'true';
      // Retained where? The message is stored and goes upstream either way; only the local broker keeps a last value.
      if (retain && !o.publishLocal)
        return refuse(
          400,
          'bad-request',
          'retain=true needs publishLocal: true on this source: the local broker keeps the last retained message for MQTT subscribers that come later, and without publishLocal nothing is published there (the message is stored and sent upstream either way)',
        );
      continue;
    }
    params ??= {};
    if (Object.keys(params).length >= MAX_PARAMS) return refuse(400, 'bad-request', `more than ${MAX_PARAMS} query parameters`);
    if (k.length > MAX_PARAM_CHARS || v.length > MAX_PARAM_CHARS)
      return refuse(400, 'bad-request', `query parameter '${k.slice(0, 50)}' or its value is over ${MAX_PARAM_CHARS} characters`);
    params[k] = v;
  }
  return { topic, params, retain };
}

/** Why a topic cannot be posted to (MQTT topic name rules), or undefined. */
export function topicProblem(topic: string, maxTopicLength: number): string | undefined {
  if (topic.length === 0) return 'the topic is empty: POST to /topics/<topic>, e.g. /topics/shelly/kitchen/temperature';
  if (topic.includes('+') || topic.includes('#'))
    return `the topic ${JSON.stringify(topic.slice(0, 200))} holds a wildcard (+ or #): a message goes to one topic name`;
  if (topic.includes('\u0000')) return 'the topic holds a NUL character';
  if (topic.startsWith('$')) return `the topic ${JSON.stringify(topic.slice(0, 200))} starts with $: such topics are the broker's own`;
  const bytes = Buffer.byteLength(topic);
  if (bytes > maxTopicLength) return `the topic is ${bytes} bytes long, over the broker's maxTopicLength (${maxTopicLength})`;
  return undefined;
}

/** NDJSON (one JSON document per line): Fluent Bit's json_lines, Fluentd's http output, jq -c. */
export function isNdjson(contentType: string | undefined): boolean {
  const t = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return (
    t === 'application/x-ndjson' || t === 'application/ndjson' || t === 'application/jsonl' || t === 'application/json-lines' || t === 'application/x-jsonlines'
  );
}

/**
 * The lines of an NDJSON body, each a JSON document, or the refusal naming the first bad line (no
 * line is taken then). Blank lines (the trailing newline, \r\n endings) are skipped.
 */
export function ndjsonLines(body: Buffer, maxLines: number): Buffer[] | Refusal {
  const out: Buffer[] = [];
  let start = 0;
  let line = 0;
  while (start <= body.length) {
    let end = body.indexOf(0x0a, start);
    if (end < 0) end = body.length;
    line++;
    let stop = end;
    if (stop > start && body[stop - 1] === 0x0d) stop--;
    const text = body.subarray(start, stop);
    start = end + 1;
    if (text.toString('latin1').trim().length === 0) continue;
    if (out.length >= maxLines) return refuse(413, 'too-large', `the NDJSON body has more than maxBatchMessages (${maxLines}) lines: nothing was taken`);
    try {
      JSON.parse(text.toString('utf8'));
    } catch (err) {
      return refuse(400, 'bad-request', `NDJSON line ${line} is not JSON (${(err as Error).message.slice(0, 120)}): nothing of the request was taken`);
    }
    out.push(text);
  }
  if (out.length === 0) return refuse(400, 'bad-request', 'the NDJSON body holds no line');
  return out;
}
