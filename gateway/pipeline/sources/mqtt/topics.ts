// The topic rules see for a message of an MQTT source, or why the source does not take it.
//
// A message takes the mapping of the first configured subscription whose filter matches its
// topic: stripPrefix removed when the topic starts with it, localPrefix always added (so these
// messages stay apart from the devices' own topics, also on a filter's parent level: 'cmd/site1'
// for 'cmd/site1/#'). A message that no configured filter matches is not taken: it comes from a
// subscription an earlier configuration left in the broker's persistent session (same clientId,
// clean: false), which the source never asked for. A topic name with a wildcard or NUL in it, or
// an empty one, is not taken either: no broker may send one (MQTT 3.1.1 4.7.3, MQTT 5 4.7.3), and
// the rules, streams and republish would carry it on as a filter.
import { deliveredFilter, matchTopic } from '../../../../core/topic-filter.js';

export interface TopicMapping {
  filter: string;
  stripPrefix: string;
  localPrefix: string;
}

export type Mapped = { topic: string } | { notTaken: string; why: 'invalid-topic' | 'unmatched' | 'too-large' };

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what a topic name must not hold
const NOT_IN_TOPIC_NAME = /[+#\u0000]/;

export class TopicMapper {
  private readonly maps: Array<{ levels: string[]; strip: string; prefix: string }>;

  constructor(topics: readonly TopicMapping[]) {
    this.maps = topics.map((t) => ({ levels: deliveredFilter(t.filter).split('/'), strip: t.stripPrefix, prefix: t.localPrefix }));
  }

  map(topic: string): Mapped {
    if (topic === '' || NOT_IN_TOPIC_NAME.test(topic)) {
      return { notTaken: `a message on ${JSON.stringify(topic)} was dropped: not a valid topic name (empty, or with +, # or NUL)`, why: 'invalid-topic' };
    }
    for (const m of this.maps) {
      if (!matchTopic(m.levels, topic)) continue;
      const rest = m.strip !== '' && topic.startsWith(m.strip) ? topic.slice(m.strip.length) : topic;
      // A topic equal to stripPrefix, without localPrefix, would leave nothing: keep it whole.
      return { topic: m.prefix + rest === '' ? topic : m.prefix + rest };
    }
    return {
      notTaken: `a message on '${topic}' was dropped: it matches none of the configured topics (a subscription an earlier configuration left in the broker's persistent session for this clientId). Fix: add a filter for it to topics if it is wanted; else end that subscription: give the source a new clientId, or clear its session on the broker`,
      why: 'unmatched',
    };
  }
}

/** Why a message over the limit is not taken (as TopicMapper's refusals). */
export function tooLargeMessage(topic: string, bytes: number, maxMessageBytes: number): { notTaken: string; why: 'too-large' } {
  return {
    notTaken: `a message of ${bytes} bytes on '${topic}' was dropped: larger than maxMessageBytes (${maxMessageBytes}); acknowledged, so the broker does not send it again. Fix: raise maxMessageBytes (and broker.maxPayloadBytes to republish it), or send smaller messages`,
    why: 'too-large',
  };
}
