// Where the MQTT bridge sends a record, and whether it sends it at all: the loop-prevention marks
// (the user properties gatehouse-bridged and gatehouse-id), a record that came down through a
// bridge, MQTT filters compiled once and matched without allocating (mqtt.topics, neverForward),
// and the local-to-remote topic mapping (first match wins). Apart from mqtt.ts (the connection
// and the sends), which calls these per record.
import { MQTT5_ATTR, attrsToProperties } from '../../store/mqtt5-attrs.js';

export const BRIDGED_PROPERTY = 'gatehouse-bridged';
export const ID_PROPERTY = 'gatehouse-id';

/**
 * The record came down through a bridge: its MQTT 5 user properties (kept as the record attribute
 * `mqtt5.userProperties`, store/mqtt5-attrs.ts) hold `gatehouse-bridged` (an MQTT source's
 * messages, a message a bridge published on the local broker), or an attribute of that name does.
 * Parsed only for records that carry user properties at all.
 */
export function cameThroughBridge(attrs: Record<string, string> | undefined): boolean {
  if (attrs === undefined) return false;
  if (attrs[BRIDGED_PROPERTY] !== undefined) return true;
  if (attrs[MQTT5_ATTR.userProperties] === undefined) return false;
  return attrsToProperties(attrs)?.userProperties?.[BRIDGED_PROPERTY] !== undefined;
}

/** A filter split once into levels; matching walks the topic without allocating. */
export function compileFilter(filter: string): string[] {
  return filter.split('/');
}

export function matchFilter(levels: readonly string[], topic: string): boolean {
  let pos = 0;
  for (let i = 0; i < levels.length; i++) {
    const f = levels[i]!;
    if (f === '#') return i > 0 || topic[0] !== '$';
    if (pos > topic.length) return false;
    let end = topic.indexOf('/', pos);
    if (end < 0) end = topic.length;
    if (f === '+') {
      if (i === 0 && topic[0] === '$') return false;
    } else if (end - pos !== f.length || !topic.startsWith(f, pos)) {
      return false;
    }
    pos = end + 1;
  }
  return pos === topic.length + 1;
}

/** A topic mapping of mqtt.topics, compiled once. */
export interface CompiledMap {
  levels: string[];
  strip: string;
  prefix: string;
}

/** The remote topic of a local one: the first mapping whose filter matches; undefined when none does. */
export function remoteTopic(maps: readonly CompiledMap[], topic: string): string | undefined {
  for (const m of maps) {
    if (!matchFilter(m.levels, topic)) continue;
    const rest = m.strip && topic.startsWith(m.strip) ? topic.slice(m.strip.length) : topic;
    return m.prefix + rest;
  }
  return undefined;
}
