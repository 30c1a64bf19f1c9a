// Mosquitto-like topic ACL. Rules are compiled once per client at CONNECT (with %u and %c
// substituted), so a publish check is a walk over a few pre-split filters and no allocation.
import type { AclOptions, AclRule } from './options.js';
import { deliveredFilter, filterCovers, filtersOverlap, matchTopic } from '../../core/topic-filter.js';

interface CompiledRule {
  levels: string[];
  read: boolean;
  write: boolean;
  deny: boolean;
}

/** The ACL of one connected client. */
export interface ClientAcl {
  /** May this client publish to the topic? */
  canWrite(topic: string): boolean;
  /**
   * 'allow' | 'deny' for a SUBSCRIBE filter; 'filter' when allowed but a deny rule overlaps
   * part of it, so deliveries must be checked per message with canRead().
   */
  subscribe(filter: string): 'allow' | 'deny' | 'filter';
  /** May this client receive a message on the topic (delivery check)? */
  canRead(topic: string): boolean;
}

/** Allows everything: no ACL configured. */
export const OPEN_ACL: ClientAcl = {
  canWrite: () => true,
  subscribe: () => 'allow',
  canRead: () => true,
};

/** A value substituted into a pattern must be one topic level, or the rule could widen access. */
function safeLevel(v: string | undefined): v is string {
  return v !== undefined && v.length > 0 && !/[/+#]/.test(v);
}

function compileRule(rule: AclRule, user: string | undefined, clientId: string, pattern: boolean): CompiledRule | undefined {
  let topic = rule.topic;
  if (pattern) {
    if (topic.includes('%u')) {
      if (!safeLevel(user)) return undefined;
      topic = topic.split('%u').join(user);
    }
    if (topic.includes('%c')) {
      if (!safeLevel(clientId)) return undefined;
      topic = topic.split('%c').join(clientId);
    }
  }
  const a = rule.access;
  return {
    levels: topic.split('/'),
    read: a === 'read' || a === 'readwrite',
    write: a === 'write' || a === 'readwrite',
    deny: a === 'deny',
  };
}

class CompiledAcl implements ClientAcl {
  private readonly allows: CompiledRule[];
  private readonly denies: CompiledRule[];
  /** Devices publish to the same topic over and over: remember the last allowed one. */
  private lastWrite = '';

  constructor(rules: CompiledRule[]) {
    this.allows = rules.filter((r) => !r.deny);
    this.denies = rules.filter((r) => r.deny);
  }

  canWrite(topic: string): boolean {
    if (topic === this.lastWrite) return true;
    for (const d of this.denies) if (matchTopic(d.levels, topic)) return false;
    for (const r of this.allows) {
      if (r.write && matchTopic(r.levels, topic)) {
        this.lastWrite = topic;
        return true;
      }
    }
    return false;
  }

  canRead(topic: string): boolean {
    for (const d of this.denies) if (matchTopic(d.levels, topic)) return false;
    for (const r of this.allows) if (r.read && matchTopic(r.levels, topic)) return true;
    return false;
  }

  subscribe(filter: string): 'allow' | 'deny' | 'filter' {
    let overlap = false;
    for (const d of this.denies) {
      if (filterCovers(d.levels, filter)) return 'deny';
      if (filtersOverlap(d.levels, filter)) overlap = true;
    }
    for (const r of this.allows) {
      if (r.read && filterCovers(r.levels, filter)) return overlap ? 'filter' : 'allow';
    }
    return 'deny';
  }
}

/**
 * The ACL for a client: its user's rules (or the anonymous rules), plus the pattern rules.
 * Without an ACL configuration every topic is open.
 */
export function compileClientAcl(acl: AclOptions | undefined, user: string | undefined, clientId: string): ClientAcl {
  if (!acl) return OPEN_ACL;
  const own = user === undefined ? acl.anonymous : ((Object.hasOwn(acl.users, user) ? acl.users[user] : undefined) ?? []);
  const rules: CompiledRule[] = [];
  for (const r of own) rules.push(compileRule(r, user, clientId, false)!);
  for (const r of acl.patterns) {
    const c = compileRule(r, user, clientId, true);
    if (c) rules.push(c);
  }
  return new CompiledAcl(rules);
}

/**
 * Why a SUBSCRIBE filter is refused whatever the ACL, or undefined. AWS IoT Basic Ingest topics
 * ($aws/rules/<rule>/<topic>) go to the named rule only, and AWS refuses subscriptions to them:
 * so is a filter that could match one ($aws/rules/#, $aws/#, $aws/+/BuildingManager/#, and the
 * same under $share/<group>/). `filter` is a valid filter.
 */
export function reservedSubscription(filter: string): string | undefined {
  const f = deliveredFilter(filter);
  if (!f.startsWith('$aws/')) return undefined;
  const levels = f.split('/');
  const second = levels[1];
  const reaches = second === '#' || ((second === 'rules' || second === '+') && levels.length >= 3);
  return reaches ? '$aws/rules/... topics are AWS IoT Basic Ingest: they go to the named rule, never to subscribers' : undefined;
}

/** Does the ACL configuration contain any deny rule (then deliveries need a per-message check)? */
export function aclHasDeny(acl: AclOptions | undefined): boolean {
  if (!acl) return false;
  const all = [...acl.anonymous, ...acl.patterns, ...Object.values(acl.users).flat()];
  return all.some((r) => r.access === 'deny');
}
