// What the README and docs/ tell a user to look for must exist: every metric name (to alert on),
// every error code (to search the log for), every source or test file named as where something
// lives or is tested, and every `npm run` script. A renamed metric or code, or a moved file, used
// to leave the pages pointing at nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ERROR_CATALOGUE } from '../../core/error-catalogue.js';
import { main } from '../../gateway/cli/main.js';
import { repoRoot } from '../helpers/index.js';

async function pages(): Promise<Array<{ file: string; text: string }>> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(repoRoot, file), 'utf8') })));
}

/** Every .ts file of the product (not the tests), concatenated. */
async function productSource(): Promise<string> {
  const parts: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(join(repoRoot, dir), { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ts')) parts.push(await readFile(join(repoRoot, p), 'utf8'));
    }
  };
  for (const dir of ['core', 'gateway', 'rules', 'firmware-bridge']) await walk(dir);
  return parts.join('\n');
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

test('every metric name in README.md and docs/ is declared by the gateway', async (t) => {
  const src = await productSource();
  const names = occurrences(await pages(), /\b(gatehouse_[a-z0-9_]*[a-z0-9])\b/g);
  assert.ok(names.size >= 50, `found only ${names.size} metric names`);
  const declared = (name: string): boolean => {
    if (src.includes(`'${name}'`) || src.includes(`"${name}"`) || src.includes(`\`${name}\``)) return true;
    const base = name.replace(/_(count|sum|bucket)$/, ''); // a histogram's series
    if (base !== name && src.includes(`'${base}'`)) return true;
    // A family built from a prefix ('gatehouse_admin_tls') and a suffix (`${prefix}_reloads_total`).
    for (let i = name.indexOf('_'); i > 0; i = name.indexOf('_', i + 1)) {
      if (src.includes(`'${name.slice(0, i)}'`) && src.includes(`}${name.slice(i)}\``)) return true;
    }
    return false;
  };
  const missing = [...names].filter(([name]) => !declared(name)).map(([name, where]) => `${where}: ${name}`);
  assert.deepEqual(missing, [], 'metric names the pages give that no code declares');
  t.diagnostic(`${names.size} metric names checked`);
});

test('every error code in README.md and docs/ is in the catalogue', async (t) => {
  const codes = occurrences(await pages(), /\b(GH_[A-Z0-9_]*[A-Z0-9])\b/g);
  assert.ok(codes.size >= 50, `found only ${codes.size} codes`);
  const known = new Set(Object.keys(ERROR_CATALOGUE));
  const missing = [...codes].filter(([code]) => !known.has(code)).map(([code, where]) => `${where}: ${code}`);
  assert.deepEqual(missing, [], 'codes the pages name that `gatehouse errors` does not list');
  t.diagnostic(`${codes.size} error codes checked`);
});

test('every repository file and npm script README.md and docs/ name exists', async (t) => {
  const all = await pages();
  // test/e2e/x.test.ts, rules/windows/runtime.ts, dist/test/bench/file-state.js (built from its .ts);
  // not a former location the page gives as such ("was rules/cli.ts").
  const files = occurrences(
    all,
    /(?<!was\s+)(?<![\w/.-])((?:dist\/)?(?:test|rules|gateway|core|firmware-bridge|systemd|docs|bin)\/[\w/.-]+\.(?:ts|js|md|yaml|sh|service))\b/g,
  );
  assert.ok(files.size >= 30, `found only ${files.size} file names`);
  const missing: string[] = [];
  for (const [p, where] of files) {
    const candidates = p.startsWith('dist/') ? [p.slice(5).replace(/\.js$/, '.ts')] : [p, p.replace(/\.js$/, '.ts')];
    let ok = false;
    for (const c of candidates) {
      try {
        await access(join(repoRoot, c));
        ok = true;
        break;
      } catch {}
    }
    if (!ok) missing.push(`${where}: ${p}`);
  }
  assert.deepEqual(missing, [], 'files the pages name that are not in the repository');
  const scripts = Object.keys((JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  const runs = occurrences(all, /npm run (?:-s )?([a-z][\w:-]*)/g);
  const unknown = [...runs].filter(([s]) => !scripts.includes(s)).map(([s, where]) => `${where}: npm run ${s}`);
  assert.deepEqual(unknown, [], 'npm scripts the pages run that package.json does not have');
  t.diagnostic(`${files.size} files, ${runs.size} npm scripts checked`);
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
