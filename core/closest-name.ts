// The known name a misspelt one was meant to be (a config key, a SQL function): the nearest within
// 2 edits, letter case aside, so that an error can say "did you mean maxConnections?" instead of
// leaving the user to compare the word with a table of options letter by letter.

/** The known name within 2 edits of `name` (case ignored), the first of the nearest; else undefined. */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    if (Math.abs(n.length - wanted.length) >= bestD) continue;
    const d = editDistance(wanted, n.toLowerCase());
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
