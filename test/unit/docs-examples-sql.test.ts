// The SQL the README and docs/ show must run as written (docs-examples.test.ts checks the YAML
// blocks; this file the SQL outside them), through the real CLI (`gatehouse rules eval`):
// - every `gatehouse rules eval` command of a shell block prints the output the page shows under it
//   (`# {...}` lines);
// - every whole statement quoted inline (`SELECT ... FROM ...`, `SELECT ... WHERE ...`, with its SET
//   clause) and every ```sql block compiles;
// - the results docs/rules-sql.md claims for expressions without fields (`1 + 'x'` is `"1x"`,
//   `round(-1.5) = -2`, `sqrt(9) = 3.0`, `false AND 'x'` is Undefined ...) are what the engine
//   gives, with the claimed type: a number written with a decimal point is a Decimal, one without an
//   Int, told apart by dividing by 1000 (an Int divides as an Int).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../gateway/cli/main.js';
import { repoRoot } from '../helpers/index.js';
import { docsDescriptors, skipProtoc } from '../helpers/protoc.js';

async function pages(): Promise<Array<{ file: string; text: string }>> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(repoRoot, file), 'utf8') })));
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        add(chunk.toString());
        cb();
      },
    });
  const code = await main(argv, {
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
  });
  return { code, stdout, stderr };
}

/** POSIX shell words of one command line: '...' verbatim, "..." with \" \\ \$ \` escapes, \x outside quotes. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unclosed ' in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      cur = cur ?? '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) i++;
        cur += line[i];
      }
      assert.ok(i < line.length, `unclosed " in: ${line}`);
    } else if (c === '\\') {
      cur = (cur ?? '') + (line[++i] ?? '');
    } else if (c === ' ' || c === '\t') {
      if (cur !== null) words.push(cur);
      cur = null;
    } else if (c === '#' && cur === null) {
      break;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

interface Example {
  where: string;
  argv: string[];
  expected: string[];
  /** The block's `protoc --encode` lines before it: they write the payload file it reads. */
  encodes: string[];
}

/** `gatehouse rules eval` commands of ```sh blocks, with the `# ...` lines after each as its output. */
function evalExamples(file: string, text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    let current: Example | null = null;
    const encodes: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const start = i;
      let line = lines[i]!;
      while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
      if (line.startsWith('# ') && current) {
        current.expected.push(line.slice(2));
        continue;
      }
      current = null;
      if (/\bprotoc --encode=/.test(line)) encodes.push(line);
      const words = shellWords(line);
      if (words[0] === 'gatehouse' && words[1] === 'rules' && words[2] === 'eval') {
        current = { where: `${file}:${start + 1}`, argv: words.slice(1), expected: [], encodes: [...encodes] };
        out.push(current);
      }
    }
  }
  return out;
}

test('every `gatehouse rules eval` in a shell block of README.md and docs/ prints the output the page shows', async (t) => {
  const examples = (await pages()).flatMap((p) => evalExamples(p.file, p.text));
  assert.ok(examples.length >= 4, `found only ${examples.length} rules eval examples`);
  // A Protobuf example: its descriptors made by protoc (the pages' .proto files, in the folder
  // beside them: src/), its payload written by the block's `protoc --encode` line run there, and
  // --proto-dir and --payload-file pointed at them.
  const protoExamples = examples.filter((ex) => ex.argv.includes('--payload-file'));
  const protoDir =
    skipProtoc || protoExamples.length === 0
      ? undefined
      : await docsDescriptors(
          t,
          (await pages()).map((p) => p.text),
        );
  for (const ex of examples) {
    if (ex.argv.includes('--payload-file')) {
      if (!protoDir) continue;
      const src = join(dirname(protoDir), 'src');
      for (const line of ex.encodes) execFileSync('sh', ['-ec', line], { cwd: src });
      const at = (flag: string) => ex.argv.indexOf(flag) + 1;
      if (at('--proto-dir') > 0) ex.argv[at('--proto-dir')] = protoDir;
      ex.argv[at('--payload-file')] = join(src, ex.argv[at('--payload-file')]!);
    }
    const r = await cli(ex.argv);
    assert.equal(r.code, 0, `${ex.where}: exit ${r.code}\n${r.stderr}`);
    assert.deepEqual(r.stdout.trimEnd().split('\n').filter(Boolean), ex.expected, `${ex.where}: gatehouse ${ex.argv.join(' ')}`);
  }
  t.diagnostic(`${examples.length} rules eval examples checked`);
});

test('every whole SQL statement quoted in README.md and docs/ (inline or in a ```sql block) compiles', async (t) => {
  const statements: Array<{ where: string; sql: string }> = [];
  for (const { file, text } of await pages()) {
    const lines = text.split('\n');
    lines.forEach((line, n) => {
      for (const m of line.matchAll(/`((?:SET @[^`]*?)?SELECT (?!FROM\b)[^`]*?\b(?:FROM|WHERE) [^`]*)`/g)) {
        // A statement with an elision (`... FROM ...`) is a sketch, not an example.
        if (!m[1]!.includes('...')) statements.push({ where: `${file}:${n + 1}`, sql: m[1]! });
      }
    });
    for (const m of text.matchAll(/```sql\n([\s\S]*?)```/g)) {
      statements.push({ where: `${file}:${text.slice(0, m.index).split('\n').length + 1}`, sql: m[1]!.trim() });
    }
  }
  assert.ok(statements.length >= 5, `found only ${statements.length} statements`);
  // decode(*, 'proto', ...) reads its descriptor when it compiles: the pages' ones, made by protoc.
  const protoDir = skipProtoc
    ? undefined
    : await docsDescriptors(
        t,
        (await pages()).map((p) => p.text),
      );
  let skipped = 0;
  for (const s of statements) {
    const proto = /decode\([^)]*'proto'/i.test(s.sql);
    if (proto && !protoDir) {
      skipped++;
      continue;
    }
    const r = await cli(['rules', 'eval', '--sql', s.sql, '--topic', 'a/b/c', '--payload', '{}', ...(proto ? ['--proto-dir', protoDir!] : [])]);
    assert.equal(r.code, 0, `${s.where}: ${s.sql}\n${r.stderr}`);
  }
  t.diagnostic(`${statements.length - skipped} statements compiled${skipped ? `, ${skipped} decoding Protobuf not (${skipProtoc})` : ''}`);
});

interface Claim {
  where: string;
  expr: string;
  /** The JSON value claimed; undefined for Undefined (the output has no key). */
  value: unknown;
  /** 'Int' or 'Decimal' when the claim writes a number. */
  type?: 'Int' | 'Decimal';
}

function claimedValue(text: string): Pick<Claim, 'value' | 'type'> {
  const t = text.replace(/^the (Int|Decimal) /, '');
  if (t === 'Undefined') return { value: undefined };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { value: Number(t), type: t.includes('.') || text.startsWith('the Decimal') ? 'Decimal' : 'Int' };
  try {
    return { value: JSON.parse(t) as unknown };
  } catch {
    return { value: t }; // a bare word such as n/a: the string
  }
}

// An expression that reads no field of the message: literals, operators, function calls, casts.
const KEYWORDS = new Set([
  'AND',
  'OR',
  'NOT',
  'IN',
  'AS',
  'CASE',
  'WHEN',
  'THEN',
  'ELSE',
  'END',
  'TRUE',
  'FALSE',
  'NULL',
  'INT',
  'DECIMAL',
  'STRING',
  'BOOL',
  'BOOLEAN',
  'DOUBLE',
]);
function readsNoField(expr: string): boolean {
  const bare = expr.replace(/'(?:[^']|'')*'/g, "''");
  return [...bare.matchAll(/\b([A-Za-z_][\w]*)\b(\s*\()?/g)].every((m) => m[2] !== undefined || KEYWORDS.has(m[1]!.toUpperCase()));
}

test("docs/rules-sql.md's claimed results of field-free expressions hold, with their Int/Decimal type", async (t) => {
  const text = await readFile(join(repoRoot, 'docs', 'rules-sql.md'), 'utf8');
  const claims: Claim[] = [];
  text.split('\n').forEach((line, n) => {
    const where = `docs/rules-sql.md:${n + 1}`;
    // `EXPR` is `VALUE` | `EXPR` is Undefined | `EXPR` is true | `EXPR` is the Int 1 | `EXPR` is 1.0
    for (const m of line.matchAll(/`([^`]+)` is (`[^`]+`|Undefined|true|false|the (?:Int|Decimal) -?[\d.]+|-?\d+(?:\.\d+)?\b)/g)) {
      claims.push({ where, expr: m[1]!, ...claimedValue(m[2]!.replace(/^`|`$/g, '')) });
    }
    // `fn(args) = VALUE` (the function tables' examples)
    for (const m of line.matchAll(/`([a-z_0-9]+\([^`]*\)) = (-?\d+(?:\.\d+)?)`/g)) claims.push({ where, expr: m[1]!, ...claimedValue(m[2]!) });
  });
  const checked = claims.filter((c) => readsNoField(c.expr) && !/^(clientid|principal|sourceip|traceid|timestamp|newuuid|rand)\(/.test(c.expr));
  assert.ok(checked.length >= 12, `found only ${checked.length} claims: ${JSON.stringify(claims.map((c) => c.expr))}`);
  for (const c of checked) {
    const r = await cli(['rules', 'eval', '--sql', `SELECT (${c.expr}) AS r, (${c.expr}) / 1000 AS d FROM 't'`, '--topic', 't', '--payload', '{}']);
    assert.equal(r.code, 0, `${c.where}: ${c.expr}\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { r?: unknown; d?: number };
    assert.deepEqual(out.r, c.value, `${c.where}: \`${c.expr}\` gives ${JSON.stringify(out.r)}, the page says ${JSON.stringify(c.value)}`);
    if (c.type && typeof c.value === 'number' && c.value !== 0) {
      const int = out.d === Math.trunc(c.value / 1000);
      assert.equal(int ? 'Int' : 'Decimal', c.type, `${c.where}: \`${c.expr}\` is ${int ? 'an Int' : 'a Decimal'}, the page says ${c.type}`);
    }
  }
  t.diagnostic(`${checked.length} claims checked: ${checked.map((c) => c.expr).join(' | ')}`);
});
