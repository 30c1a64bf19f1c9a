// What the README and docs/ name must exist as named, for the classes of examples that can be
// checked without a running gateway (the YAML blocks are docs-examples.test.ts's, SQL examples
// docs-examples-sql.test.ts's):
// - every `gatehouse <command> [subcommand] --option ...` written in code (a code span or a code
//   block) is a command whose `--help` answers, and every --option written after it is in that help;
// - the other way round, every command and subcommand `gatehouse --help` lists has a line in the
//   README's CLI list, and every --option its own `--help` gives is on that line (the check above
//   only goes from the docs to --help, so options given only in --help went unseen: simulate serial's
//   --device-id and --baud, simulate mqtt's --username, --password, --topic and --count);
// - every metric name (`gatehouse_...`) is declared somewhere in the sources (users alert on them:
//   a renamed metric must not leave a doc naming a series that never appears);
// - every error code (`GH_...`) is in the catalogue (`gatehouse errors`, docs/errors.md);
// - every relative link points at a file that exists and, with `#anchor`, at a heading it has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../gateway/cli/main.js';
import { ERROR_CATALOGUE } from '../../core/error-catalogue.js';
import { z } from '../../core/zod.js';
import { destinationSchemas } from '../../gateway/upstream/registry.js';
import { repoRoot } from '../helpers/index.js';

interface Doc {
  file: string;
  lines: string[];
}

async function docs(): Promise<Doc[]> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  return Promise.all(files.map(async (file) => ({ file, lines: (await readFile(join(repoRoot, file), 'utf8')).split('\n') })));
}

/** The code of a doc line by line: whole lines inside fenced blocks, code spans elsewhere. */
function codeOf(doc: Doc): Array<{ line: number; code: string }> {
  const out: Array<{ line: number; code: string }> = [];
  let fenced = false;
  doc.lines.forEach((text, i) => {
    if (/^\s*```/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) out.push({ line: i + 1, code: text });
    else for (const m of text.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, code: m[1]! });
  });
  return out;
}

async function help(argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const code = await main([...argv, '--help'], { stdout: sink, stderr: sink });
  return { code, text };
}

/** Commands whose first argument is a subcommand with its own options. */
const WITH_SUBCOMMANDS = new Set(['rules', 'simulate', 'opcua', 'streams']);
/** `gatehouse <word>` in code that is not a command: a log message the docs quote. */
const NOT_COMMANDS = new Set(['started']);

test('every `gatehouse ...` command line in README.md and docs/ names a command and options its --help lists', async () => {
  const helps = new Map<string, { code: number; text: string }>();
  const problems: string[] = [];
  let checked = 0;
  for (const doc of await docs()) {
    for (const { line, code } of codeOf(doc)) {
      for (const m of code.matchAll(/(?:^|[\s(;&|$])(?:npx |sudo (?:-u gatehouse )?)?(?:\.\/bin\/)?gatehouse(?:\.js)? ([a-z][a-z-]*)([^|;&#`]*)/g)) {
        const command = m[1]!;
        if (NOT_COMMANDS.has(command)) continue;
        const rest = m[2]!.trim().split(/\s+/);
        const argv = [command];
        if (WITH_SUBCOMMANDS.has(command) && /^[a-z][a-z-]*$/.test(rest[0] ?? '')) argv.push(rest[0]!);
        const key = argv.join(' ');
        if (!helps.has(key)) helps.set(key, await help(argv));
        const h = helps.get(key)!;
        const where = `${doc.file}:${line}: \`gatehouse ${m[1]}${m[2]}\``;
        if (h.code !== 0) {
          problems.push(`${where}: 'gatehouse ${key} --help' exits ${h.code}: ${h.text.split('\n')[0]}`);
          continue;
        }
        for (const opt of m[2]!.matchAll(/(?:^|[\s[|])(--[a-z][a-z0-9-]*)/g)) {
          if (opt[1] !== '--help' && !h.text.includes(opt[1]!))
            problems.push(`${where}: ${opt[1]} is not an option of 'gatehouse ${key}' (its --help does not name it)`);
        }
        checked++;
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 50, `found only ${checked} command lines`);
});

/** The commands and subcommands `gatehouse --help` lists ('rules eval|check|...' is one line). */
async function listedCommands(): Promise<string[][]> {
  const { text } = await help([]);
  const commands: string[][] = [];
  for (const m of text.split('commands:\n')[1]!.matchAll(/^ {2}([a-z][a-z-]*)(?: ([a-z][a-z-]*(?:\|[a-z][a-z-]*)*)(?= |$))?/gm)) {
    if (m[2] === undefined) commands.push([m[1]!]);
    else for (const sub of m[2].split('|')) commands.push([m[1]!, sub]);
  }
  return commands;
}

/** The options a command's --help gives: on its usage lines and at the start of its option lines. */
function helpOptions(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const usage = /^\s*(?:usage:\s+)?gatehouse /i.test(line);
    if (usage) for (const m of line.matchAll(/(?:^|[\s[|])(--[a-z][a-z0-9-]*)/g)) out.add(m[1]!);
    const listed = /^\s*(?:-[a-z], )?(--[a-z][a-z0-9-]*)/.exec(line);
    if (listed) out.add(listed[1]!);
  }
  out.delete('--help');
  return out;
}

test("every option of every command's --help is on the command's line in the README's CLI list", async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = readme.split('\n### CLI\n')[1]?.split('```')[1];
  assert.ok(block, "README.md has a '### CLI' section with a code block");
  const problems: string[] = [];
  const commands = await listedCommands();
  assert.ok(commands.length >= 20, `gatehouse --help listed only ${commands.length} commands`);
  for (const argv of commands) {
    const key = argv.join(' ');
    const lines = block.split('\n').filter((l) => l === `gatehouse ${key}` || l.startsWith(`gatehouse ${key} `));
    if (lines.length === 0) {
      problems.push(`gatehouse ${key}: no line in the README's CLI list`);
      continue;
    }
    const h = await help(argv);
    assert.equal(h.code, 0, `gatehouse ${key} --help`);
    const written = lines.join(' ');
    for (const opt of helpOptions(h.text)) {
      if (!new RegExp(`(?:^|[\\s[|])${opt}(?![a-z0-9-])`).test(written)) problems.push(`gatehouse ${key}: ${opt} (in its --help) is not on its README line`);
    }
  }
  assert.deepEqual(problems, []);
});

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(repoRoot, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(rel)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

test('every metric name in README.md and docs/ is declared in the sources', async () => {
  const literal = new Set<string>();
  const templates: string[] = []; // suffixes of names built from a prefix: `${kind.metrics}_reloads_total`
  for (const dir of ['core', 'gateway', 'rules', 'firmware-bridge']) {
    for (const file of await sourceFiles(dir)) {
      const text = await readFile(join(repoRoot, file), 'utf8');
      for (const m of text.matchAll(/['"`](gatehouse_[a-z0-9_]+)['"`]/g)) literal.add(m[1]!);
      for (const m of text.matchAll(/`\$\{[^}]+\}(_[a-z0-9_]+)`/g)) templates.push(m[1]!);
    }
  }
  const declared = (name: string) => literal.has(name) || templates.some((suffix) => name.endsWith(suffix) && literal.has(name.slice(0, -suffix.length)));
  const problems: string[] = [];
  for (const doc of await docs()) {
    doc.lines.forEach((text, i) => {
      for (const m of text.matchAll(/gatehouse_[a-z0-9_]*[a-z0-9]/g)) {
        const name = m[0];
        const base = name.replace(/_(bucket|sum|count)$/, '');
        // A family written as a prefix (`gatehouse_admin_tls_*`, `gatehouse_file_*`).
        const family = text.slice(m.index + name.length).startsWith('_*');
        if (family ? [...literal].some((l) => l === name || l.startsWith(`${name}_`)) : declared(name) || declared(base)) continue;
        problems.push(`${doc.file}:${i + 1}: ${name}`);
      }
    });
  }
  assert.deepEqual(problems, [], 'metric names the docs give that no source declares');
});

test('every error code in README.md and docs/ is in the catalogue', async () => {
  const problems: string[] = [];
  for (const doc of await docs()) {
    doc.lines.forEach((text, i) => {
      for (const m of text.matchAll(/\bGH_[A-Z0-9_]*[A-Z0-9]\b/g)) if (!(m[0] in ERROR_CATALOGUE)) problems.push(`${doc.file}:${i + 1}: ${m[0]}`);
    });
  }
  assert.deepEqual(problems, [], 'error codes the docs give that `gatehouse errors` does not list');
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchors(lines: string[]): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const l of lines) {
    if (/^\s*```/.test(l)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.*)$/.exec(l);
    if (m) {
      const slug = m[1]!
        .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/<[^>]+>/g, '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-');
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const a of l.matchAll(/<a (?:name|id)="([^"]+)"/g)) out.add(a[1]!);
  }
  return out;
}

test('every relative link in README.md and docs/ points at a file, and at a heading of it', async () => {
  const all = await docs();
  const byFile = new Map(all.map((d) => [normalize(d.file), d]));
  const problems: string[] = [];
  for (const doc of all) {
    doc.lines.forEach((text, i) => {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!;
        if (/^[a-z]+:/.test(href)) continue;
        const [path, anchor] = href.split('#') as [string, string | undefined];
        const target = path ? normalize(join(dirname(doc.file), path)) : normalize(doc.file);
        if (!existsSync(join(repoRoot, target))) problems.push(`${doc.file}:${i + 1}: ${href}: no file ${target}`);
        else if (anchor && target.endsWith('.md')) {
          const d = byFile.get(target);
          if (d && !anchors(d.lines).has(anchor)) problems.push(`${doc.file}:${i + 1}: ${href}: no heading '#${anchor}' in ${target}`);
        }
      }
    });
  }
  assert.deepEqual(problems, []);
});

test("an admin API refusal's hint points at where the routes and their query parameters are described", async () => {
  // Before: 'see docs/status-page.md for the admin API requests', a page that describes none of them.
  const hint = ERROR_CATALOGUE.GH_ADMIN_BAD_REQUEST.hint;
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const heading = /### Admin HTTP API[^\n]*/.exec(readme);
  assert.ok(heading, 'README has an Admin HTTP API section');
  assert.match(hint, /README's Admin HTTP API/);
  const section = readme.slice(heading.index, readme.indexOf('\n### ', heading.index + 1));
  assert.match(section, /`GET \/api\/streams\/\{name\}\/records\?from=SEQ&limit=N&maxBytes=B`/);
});

test('docs/configuration.md lists every option of every destination type (destinations.md sends readers there for them)', async () => {
  // Before: configuration.md said the destination options were in destinations.md, which said they
  // were in configuration.md; neither listed gzipLevel, maxFileBytes, sdkMaxAttempts, ackTimeoutMs, ...
  const reference = await readFile(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  const missing: string[] = [];
  for (const [type, schema] of Object.entries(destinationSchemas)) {
    const start = reference.indexOf(`### \`type: ${type}\``);
    const end = reference.indexOf('\n### ', start + 1);
    const section = start < 0 ? '' : reference.slice(start, end < 0 ? undefined : end);
    const keys = Object.keys((z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: object }).properties ?? {});
    assert.ok(keys.length > 0, type);
    for (const key of keys) if (!section.includes(`| \`exporters[].destination.${key}\` |`)) missing.push(`${type}: ${key}`);
  }
  assert.deepEqual(missing, []);
  const destinations = await readFile(join(repoRoot, 'docs', 'destinations.md'), 'utf8');
  assert.match(destinations, /\(configuration\.md#destination-options\)/);
});

test('every repository file README.md and docs/ name (sources, tests, benches, scripts, the unit) exists', async () => {
  const problems: string[] = [];
  const path = /(?<![\w/.-])((?:gateway|core|rules|firmware-bridge|test|systemd|scripts|bin|dist)\/[\w./-]+\.(?:json|mjs|js|ts|sh|service|yaml|md))(?!\w)/g;
  for (const doc of await docs()) {
    doc.lines.forEach((text, i) => {
      for (const m of text.matchAll(path)) {
        // A file's former place, as decisions.md words a move: "(was rules/cli.ts)".
        if (/\bwas\s*$/.test(`${i > 0 ? doc.lines[i - 1] : ''} ${text.slice(0, m.index)}`)) continue;
        if (!existsSync(join(repoRoot, m[1]!))) problems.push(`${doc.file}:${i + 1}: ${m[1]}`);
      }
    });
  }
  assert.deepEqual(problems, [], 'files the docs name that are not in the repository (dist/: after npm run build)');
});

test("docs/status-page.md's Files section names every file of the page (gateway/admin/page)", async () => {
  const doc = await readFile(join(repoRoot, 'docs', 'status-page.md'), 'utf8');
  const files = doc.slice(doc.indexOf('## Files'), doc.indexOf('\n## ', doc.indexOf('## Files') + 1));
  const page = (await readdir(join(repoRoot, 'gateway', 'admin', 'page'))).filter((f) => /\.(html|js|css|svg)$/.test(f));
  assert.ok(page.length > 5);
  assert.deepEqual(
    page.filter((f) => !files.includes(`${f}\``)),
    [],
  );
});

/** A default as the docs' tables write it ('1000', '64 MiB', '5 s', '`fsync`', '0 (none)'), as JSON; undefined when it is prose. */
function documentedDefault(cell: string): string | undefined {
  const c = cell.trim().replace(/^`(.*)`$/, '$1');
  if (c === 'none') return '';
  const m = /^(\d[\d,]*)(?: (KiB|MiB|GiB|s))?(?: \(none\))?$/.exec(c);
  if (m) {
    const units: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, s: 1000 };
    const n = Number(m[1]!.replaceAll(',', '')) * (m[2] ? units[m[2]]! : 1);
    return `\`${n}\``;
  }
  if (c === 'true' || c === 'false') return `\`${c}\``;
  if (/^[a-z][a-z-]*$/.test(c)) return `\`${JSON.stringify(c)}\``;
  return undefined;
}

test("the defaults broker.md's and store.md's option tables state are the schema's (docs/configuration.md)", async () => {
  const reference = await readFile(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  const generated = new Map<string, string>();
  for (const m of reference.matchAll(/^\| `([^`]+)` \| (?:[^|\\]|\\\|)* \| ([^|]*) \|/gm)) generated.set(m[1]!, m[2]!.trim());
  const tables: Array<{ file: string; prefix: (key: string, lines: string[], i: number) => string }> = [
    { file: 'docs/broker.md', prefix: (key) => `broker.${key}` },
    // store.md: the store's options first, then a stream's (after the "Per stream" line).
    {
      file: 'docs/store.md',
      prefix: (key, lines, i) => (lines.slice(0, i).some((l) => l.startsWith('Per stream')) ? `streams.<name>.${key}` : `store.${key}`),
    },
  ];
  const problems: string[] = [];
  let compared = 0;
  for (const { file, prefix } of tables) {
    const lines = (await readFile(join(repoRoot, file), 'utf8')).split('\n');
    const options = lines.findIndex((l) => /^\| ?(Option|option) \| ?(Default|default) \|/.test(l));
    assert.ok(options >= 0, `${file}: no options table`);
    lines.forEach((text, i) => {
      const m = /^\| `([A-Za-z.[\]]+)` \| ([^|]+) \|/.exec(text);
      if (!m || i < options) return;
      const key = prefix(m[1]!, lines, i);
      const doc = documentedDefault(m[2]!);
      if (doc === undefined || !generated.has(key)) return;
      compared++;
      if (doc !== generated.get(key)) problems.push(`${file}:${i + 1}: ${key} documented ${m[2]!.trim()}, schema default ${generated.get(key) || 'none'}`);
    });
  }
  assert.deepEqual(problems, []);
  assert.ok(compared >= 25, `compared only ${compared} defaults`);
});
