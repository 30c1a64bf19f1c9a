// Topic index: a trie over topic-filter levels ('+' and '#' wildcards), so a message only meets the
// rules whose FROM filter matches. Lookups are memoised per topic in a bounded cache (devices repeat
// topics), so the steady-state cost is one Map lookup per message whatever the number of rules.

interface Node<T> {
  children: Map<string, Node<T>>;
  plus: Node<T> | undefined;
  /** Items whose filter ends with '#' at this level. */
  hash: T[];
  /** Items whose filter ends exactly here. */
  here: T[];
}

function node<T>(): Node<T> {
  return { children: new Map(), plus: undefined, hash: [], here: [] };
}

export class TopicIndex<T> {
  private readonly root: Node<T> = node();
  private readonly cache = new Map<string, readonly T[]>();
  private readonly order = new Map<T, number>();
  private size = 0;

  constructor(private readonly cacheSize = 10_000) {}

  add(filter: string, item: T): void {
    this.order.set(item, this.size++);
    let n = this.root;
    for (const level of filter.split('/')) {
      if (level === '#') {
        n.hash.push(item);
        this.cache.clear();
        return;
      }
      if (level === '+') {
        n = n.plus ??= node();
      } else {
        let next = n.children.get(level);
        if (!next) {
          next = node();
          n.children.set(level, next);
        }
        n = next;
      }
    }
    n.here.push(item);
    this.cache.clear();
  }

  /** Items whose filter matches `topic`, in insertion order. The array is shared: do not modify. */
  match(topic: string): readonly T[] {
    const hit = this.cache.get(topic);
    if (hit) return hit;
    const out: T[] = [];
    // MQTT: wildcards at the first level do not match topics starting with '$'.
    const levels = topic.split('/');
    this.walk(this.root, levels, 0, out, topic.startsWith('$'));
    if (out.length > 1) out.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    const frozen: readonly T[] = out.length === 0 ? EMPTY : out;
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(topic, frozen);
    return frozen;
  }

  private walk(n: Node<T>, levels: string[], i: number, out: T[], dollar: boolean): void {
    const wild = !(dollar && i === 0);
    // 'a/#' also matches 'a' (the parent level), per MQTT.
    if (wild) for (const x of n.hash) out.push(x);
    if (i === levels.length) {
      for (const x of n.here) out.push(x);
      return;
    }
    const child = n.children.get(levels[i]!);
    if (child) this.walk(child, levels, i + 1, out, dollar);
    if (n.plus && wild) this.walk(n.plus, levels, i + 1, out, dollar);
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

/** Plain filter matching (CLI `rules eval`, tests). */
export function topicMatches(filter: string, topic: string): boolean {
  const idx = new TopicIndex<true>(1);
  idx.add(filter, true);
  return idx.match(topic).length > 0;
}
