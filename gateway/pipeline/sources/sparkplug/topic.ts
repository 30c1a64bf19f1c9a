// Sparkplug B topics: spBv1.0/<group>/<type>/<edge node>[/<device>] and the host's
// spBv1.0/STATE/<host id>; and the topic the source gives each message it hands to the rules
// (the `topic` template).
import { topicRenderer } from '../topic-template.js';

export const NAMESPACE = 'spBv1.0';

export const MESSAGE_TYPES = ['NBIRTH', 'NDATA', 'NDEATH', 'DBIRTH', 'DDATA', 'DDEATH', 'NCMD', 'DCMD'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export type SparkplugTopic =
  | { kind: 'message'; group: string; type: MessageType; node: string; device?: string }
  | { kind: 'state'; hostId: string }
  | { kind: 'other'; why: string };

const NODE_TYPES = new Set<string>(['NBIRTH', 'NDATA', 'NDEATH', 'NCMD']);
const DEVICE_TYPES = new Set<string>(['DBIRTH', 'DDATA', 'DDEATH', 'DCMD']);

export function parseTopic(topic: string): SparkplugTopic {
  const l = topic.split('/');
  if (l[0] !== NAMESPACE) return { kind: 'other', why: `not in the ${NAMESPACE} namespace` };
  if (l[1] === 'STATE' && l.length === 3 && l[2] !== '') return { kind: 'state', hostId: l[2]! };
  const [, group, type, node, device] = l;
  if (!group || !type || !node) return { kind: 'other', why: `not spBv1.0/<group>/<type>/<edge node>[/<device>]` };
  if (NODE_TYPES.has(type) && l.length === 4) return { kind: 'message', group, type: type as MessageType, node };
  if (DEVICE_TYPES.has(type) && l.length === 5 && device) return { kind: 'message', group, type: type as MessageType, node, device };
  return { kind: 'other', why: `'${type}' with ${l.length - 3} level(s) after the group is no Sparkplug B message type` };
}

/** The placeholders of the `topic` option. */
export const TOPIC_VOCABULARY = ['group', 'type', 'node', 'device', 'source'] as const;

export const DEFAULT_TOPIC = 'sparkplug/${group}/${type}/${node}/${device}';

/**
 * The topic of a message: the template with its placeholders filled; a level that is `${device}`
 * alone is left out of node messages (NBIRTH, NDATA, NDEATH), so the default gives
 * sparkplug/plant1/NDATA/edge7 and sparkplug/plant1/DDATA/edge7/pump3.
 */
export function topicMaker(template: string, source: string): (t: { group: string; type: string; node: string; device?: string | undefined }) => string {
  const levels = template.split('/').map((l) => ({ deviceOnly: l === '${device}', render: topicRenderer(l) }));
  return (t) => {
    const vars = { group: t.group, type: t.type, node: t.node, device: t.device ?? '', source };
    const out: string[] = [];
    for (const l of levels) if (!(l.deviceOnly && t.device === undefined)) out.push(l.render(vars));
    return out.join('/');
  };
}
