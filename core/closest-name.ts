// The known name a misspelt one was meant to be (a config key, a SQL function): the nearest within
// 2 edits, letter case aside, so that an error can say "did you mean maxConnections?" instead of
// leaving the user to compare the word with a table of options letter by letter.
//
// Cheap enough to run on every refused command against thousands of names (a Sparkplug node's
// metrics): no allocation per name, and a name is given up as soon as its distance cannot beat the
// best one (the smallest value of a row of the table never decreases in the rows below it).

/** The known name within 2 edits of `name` (case ignored), the first of the nearest; else undefined. */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  let prev = new Int32Array(wanted.length + 3);
  let cur = new Int32Array(wanted.length + 3);
  for (const n of names) {
    if (Math.abs(n.length - wanted.length) >= bestD) continue;
    const b = n.toLowerCase();
    if (b.length + 1 > prev.length) {
      prev = new Int32Array(b.length + 1);
      cur = new Int32Array(b.length + 1);
    }
    const d = distanceBelow(wanted, b, bestD, prev, cur);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance of a and b when below `limit`, else `limit`; `prev` and `cur` hold b.length + 1 each. */
function distanceBelow(a: string, b: string, limit: number, prev: Int32Array, cur: Int32Array): number {
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ca === b.charCodeAt(j - 1) ? 0 : 1));
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    const t = prev;
    prev = cur;
    cur = t;
  }
  return Math.min(prev[b.length]!, limit);
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
export function editDistance(a: string, b: string): number {
  return distanceBelow(a, b, Number.POSITIVE_INFINITY, new Int32Array(b.length + 1), new Int32Array(b.length + 1));
}
