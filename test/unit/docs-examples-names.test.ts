// What the README and docs/ tell a user to type must exist: every `npm run` script and every
// configuration key. (Metric names, error codes, files and links: docs-examples-cli.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../gateway/cli/main.js';
import { repoRoot } from '../helpers/index.js';

async function pages(): Promise<Array<{ file: string; text: string }>> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(repoRoot, file), 'utf8') })));
}

/** Each first match of re's group 1 in the pages, with where it is (file:line). */
function occurrences(pagesList: Array<{ file: string; text: string }>, re: RegExp): Map<string, string> {
  const found = new Map<string, string>();
  for (const { file, text } of pagesList) {
    for (const m of text.matchAll(re)) {
      if (!found.has(m[1]!)) found.set(m[1]!, `${file}:${text.slice(0, m.index).split('\n').length}`);
    }
  }
  return found;
}

test('every npm script README.md and docs/ run exists', async (t) => {
  const all = await pages();
  const scripts = Object.keys((JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  const runs = occurrences(all, /npm run (?:-s )?([a-z][\w:-]*)/g);
  const unknown = [...runs].filter(([s]) => !scripts.includes(s)).map(([s, where]) => `${where}: npm run ${s}`);
  assert.deepEqual(unknown, [], 'npm scripts the pages run that package.json does not have');
  t.diagnostic(`${runs.size} npm scripts checked`);
});

test('every configuration key README.md and docs/ name is one `gatehouse config-docs` lists', async (t) => {
  let listing = '';
  const code = await main(['config-docs'], {
    stdout: new Writable({
      write(chunk: Buffer, _enc, cb) {
        listing += chunk.toString();
        cb();
      },
    }),
    stderr: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  assert.equal(code, 0);
  const known = new Set([...listing.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!));
  // `control.probation.seconds`, `sources[].maxLineBytes`, `broker.listeners.N.tls.cert`, `sources.0.topic` (a
  // problem's path): a list index is written [] in the listing. Not keys of this listing: a destination's
  // options (destinations.md lists them per type), API fields (`streams[].exporters[].backlog`), file names.
  const keys = occurrences(
    await pages(),
    /`((?:broker|store|ruleState|uplink|serial|sources|admin|control|jobs|streams\.<name>|exporters(?:\[\]|\.N|\.\d+)(?!\.destination\.))(?:\[\])?\.[\w.<>[\]]*\w)`/g,
  );
  assert.ok(keys.size >= 150, `found only ${keys.size} keys`);
  const missing = [...keys]
    .filter(([key]) => !key.endsWith('.js') && !known.has(key.replace(/\.(?:N|\d+)(?=\.|$)/g, '[]')))
    .map(([key, where]) => `${where}: ${key}`);
  assert.deepEqual(missing, [], 'keys the pages name that the configuration does not have');
  t.diagnostic(`${keys.size} configuration keys checked`);
});
