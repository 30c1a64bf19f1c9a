// Bounds on the identifiers a client sends, in UTF-8 bytes as MQTT counts them: topic names and
// filters (broker.maxTopicLength) and client ids (broker.maxClientIdLength). MQTT lets each be
// 65,535 bytes, and the broker keeps them: every filter in the routing tables (one client holding
// 1,000 filters of 60 KB took 66 MB), every session by its client id, every retained message by its
// topic. The other per-client bounds (maxSubscriptionsPerClient, maxPersistentSessions,
// maxRetainedMessages) count entries; these bound what one entry may cost.

/** The UTF-8 length of `text` when it is over `max` bytes; undefined when within. */
export function utf8LengthOver(text: string, max: number): number | undefined {
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes: nothing to encode while 3 bytes a unit fit.
  if (text.length * 3 <= max) return undefined;
  const bytes = Buffer.byteLength(text);
  return bytes > max ? bytes : undefined;
}

/** A topic for a log line: its start, when a long one is the subject. */
export function topicForLog(topic: string): string {
  return topic.length > 120 ? `${topic.slice(0, 120)}...` : topic;
}
