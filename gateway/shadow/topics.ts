// AWS IoT's Device Shadow topics (the developer guide's "Device Shadow MQTT topics"):
//   $aws/things/<thing>/shadow/<op>                     the classic (unnamed) shadow
//   $aws/things/<thing>/shadow/name/<shadow>/<op>       a named shadow
// where <op> is a request (update, get, delete) a client publishes, or an answer only the service
// publishes (update/accepted, update/rejected, update/delta, update/documents, get/accepted,
// get/rejected, delete/accepted, delete/rejected). Names are checked as AWS checks them
// (ThingName: [a-zA-Z0-9:_-], 1-128; ShadowName: [$a-zA-Z0-9:_-], 1-64). This file is loaded at
// every start (the broker's prefix check and the reserved answer topics): it stays small.

export const THINGS_PREFIX = '$aws/things/';

export type ShadowOp = 'update' | 'get' | 'delete';

const OPS: ReadonlySet<string> = new Set(['update', 'get', 'delete']);
const ANSWERS: ReadonlySet<string> = new Set([
  'update/accepted',
  'update/rejected',
  'update/delta',
  'update/documents',
  'get/accepted',
  'get/rejected',
  'delete/accepted',
  'delete/rejected',
]);

const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const SHADOW_NAME = /^[$a-zA-Z0-9:_-]{1,64}$/;

export interface ShadowTopic {
  thing: string;
  /** undefined: the classic shadow. */
  name: string | undefined;
  /** The request ('update', 'get', 'delete') or the answer ('update/accepted', ...). */
  op: string;
  /** An answer topic: only the service publishes there. */
  answer: boolean;
}

/** The shadow topic `topic` is, or undefined for any other topic (names not checked: see nameProblem). */
export function parseShadowTopic(topic: string): ShadowTopic | undefined {
  if (!topic.startsWith(THINGS_PREFIX)) return undefined;
  const slash = topic.indexOf('/', THINGS_PREFIX.length);
  if (slash < 0) return undefined;
  const thing = topic.slice(THINGS_PREFIX.length, slash);
  let rest = topic.slice(slash + 1);
  if (!rest.startsWith('shadow/')) return undefined;
  rest = rest.slice('shadow/'.length);
  let name: string | undefined;
  if (rest.startsWith('name/')) {
    const end = rest.indexOf('/', 'name/'.length);
    if (end < 0) return undefined;
    name = rest.slice('name/'.length, end);
    rest = rest.slice(end + 1);
  }
  if (OPS.has(rest)) return { thing, name, op: rest, answer: false };
  if (ANSWERS.has(rest)) return { thing, name, op: rest, answer: true };
  return undefined;
}

/** What is wrong with a thing or shadow name, as AWS says it; undefined when both are valid. */
export function nameProblem(thing: string, name: string | undefined): string | undefined {
  if (!THING_NAME.test(thing)) return 'Invalid thing name';
  if (name !== undefined && !SHADOW_NAME.test(name)) return 'Invalid shadow name';
  return undefined;
}

/** The topic prefix of a shadow: `$aws/things/<thing>/shadow` or `.../shadow/name/<name>`. */
export function shadowTopicPrefix(thing: string, name: string | undefined): string {
  return name === undefined ? `${THINGS_PREFIX}${thing}/shadow` : `${THINGS_PREFIX}${thing}/shadow/name/${name}`;
}

/**
 * Why a client may not publish on `topic`: the answer topics are the service's (AWS allows only
 * subscriptions there), so a device cannot forge another's delta or accepted. undefined otherwise.
 */
export function reservedShadowPublish(topic: string): string | undefined {
  if (topic.charCodeAt(0) !== 36 || !topic.startsWith(THINGS_PREFIX)) return undefined;
  const t = parseShadowTopic(topic);
  return t?.answer ? `${t.op} is an answer of the gateway's Device Shadow service: only it publishes there` : undefined;
}
