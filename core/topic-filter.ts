// MQTT topic filter helpers for the ACL. Filters are split once when compiled; topics are walked
// in place (no split, no allocation) because matchTopic runs on every publish.

/** A valid MQTT topic filter: non-empty, '#' only as the whole last level, '+' only as a whole level. */
export function validFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return false;
    if (l.includes('+') && l !== '+') return false;
  }
  return true;
}

/**
 * Does the topic name (no wildcards) match the filter levels? Per [MQTT-4.7.2-1], a filter
 * starting with a wildcard does not match topics starting with '$'.
 */
export function matchTopic(levels: readonly string[], topic: string): boolean {
  if (topic.charCodeAt(0) === 36 /* $ */) {
    const first = levels[0];
    if (first === '#' || first === '+') return false;
  }
  let pos = 0;
  const n = levels.length;
  for (let i = 0; i < n; i++) {
    const lvl = levels[i]!;
    if (lvl === '#') return true; // matches the parent level too ('a/#' matches 'a')
    if (pos > topic.length) return false; // topic has fewer levels than the filter
    let end = topic.indexOf('/', pos);
    if (end === -1) end = topic.length;
    if (lvl !== '+') {
      if (end - pos !== lvl.length || !topic.startsWith(lvl, pos)) return false;
    }
    pos = end + 1;
  }
  // every filter level consumed: the topic must be consumed too
  return pos === topic.length + 1;
}

/**
 * Is every topic the subscription filter can match also matched by the ACL filter?
 * ('sensors/#' covers 'sensors/+/temp'; 'sensors/+/temp' does not cover 'sensors/#').
 * This is what mosquitto checks on SUBSCRIBE.
 */
export function filterCovers(aclLevels: readonly string[], sub: string): boolean {
  const subLevels = sub.split('/');
  if (sub.charCodeAt(0) === 36 && (aclLevels[0] === '#' || aclLevels[0] === '+')) return false;
  for (let i = 0; i < aclLevels.length; i++) {
    const a = aclLevels[i]!;
    if (a === '#') return true;
    const s = subLevels[i];
    if (s === undefined) return false;
    if (s === '#') return false; // the subscription reaches deeper than a non-# ACL filter
    if (a === '+') continue;
    if (a !== s) return false; // a literal ACL level only covers the same literal
  }
  return subLevels.length === aclLevels.length;
}

/**
 * Could the subscription filter and ACL filter both match some topic? Used for deny rules on
 * subscribe: a subscription is refused outright only when a deny rule covers it entirely;
 * a partial overlap is enforced per message on delivery instead.
 */
export function filtersOverlap(a: readonly string[], sub: string): boolean {
  const b = sub.split('/');
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return false;
    if (x === '+' || y === '+') continue;
    if (x !== y) return false;
  }
  return true;
}

/**
 * A shared subscription `$share/<group>/<filter>` (MQTT 5, 4.8.2): its group and the filter whose
 * topics it delivers; undefined for any other filter. A malformed one (`$share/g`, `$share//a`)
 * has an empty group or filter, for the caller to refuse.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith('$share/')) return undefined;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? { group: rest.slice(0, slash), filter: rest.slice(slash + 1) } : { group: '', filter: '' };
}

/** The filter whose topics a subscription delivers: the inner filter of `$share/<group>/<filter>`, else the filter itself. */
export function deliveredFilter(filter: string): string {
  return parseSharedFilter(filter)?.filter ?? filter;
}
