// The architecture check (issue #11): parses every non-test .ts file's imports (`import`,
// `import type`, `export ... from`, dynamic `import()`) and asserts
//   1. no import cycles, type-only imports included (a cycle is printed file by file);
//   2. layering: core/ imports nothing of ours outside core/; rules/ and firmware-bridge/ import
//      only core/ and their own files (npm packages are free everywhere);
//   3. rules/ defines the action interface it executes and nothing else of the pipeline;
//   4. command-line code (parseArgs, process.argv) lives in gateway/cli/ only.
// Run alone: npx tsc -p tsconfig.json && node --test dist/test/unit/architecture.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TOP = ['core', 'gateway', 'rules', 'firmware-bridge'] as const;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// Comments are stripped first so an example in a comment is not an import.
const IMPORT = /(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** Repo-relative paths of our own files that `file` imports. */
function importsOf(file: string): string[] {
  const src = stripComments(readFileSync(file, 'utf8'));
  const out = new Set<string>();
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec?.startsWith('.')) continue; // npm packages and node: builtins
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    const candidates = [target, `${target}.ts`, join(target, 'index.ts')];
    const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    assert.ok(hit, `${relative(ROOT, file)} imports '${spec}', which resolves to no .ts file`);
    out.add(relative(ROOT, hit));
  }
  return [...out];
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const top of TOP) for (const f of sourceFiles(join(ROOT, top))) g.set(relative(ROOT, f), importsOf(f));
  return g;
}

/** Every cycle's strongly connected component (Tarjan), each with one concrete cycle path through it. */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const comps: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) comps.push(comp);
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  // One readable path per component: BFS from its first file back to itself inside the component.
  return comps.map((comp) => {
    const inComp = new Set(comp);
    const start = comp.sort()[0]!;
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of g.get(v) ?? []) {
        if (!inComp.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) path.splice(1, 0, x);
          return [...path, start, `(${comp.length} files in this cycle)`];
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return comp;
  });
}

const g = graph();

test('the import graph has no cycles (type-only imports included)', () => {
  const found = cycles(g);
  assert.deepEqual(
    found.map((c) => c.join('\n  -> ')),
    [],
    `import cycles:\n${found.map((c) => `  ${c.join('\n  -> ')}`).join('\n\n')}`,
  );
});

/** A file's unit for the folder check: gateway/<part>, or the top folder (core, rules, firmware-bridge). */
function unitOf(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'gateway' && parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

test('folders do not depend on each other both ways (gateway/<part>, core, rules, firmware-bridge)', () => {
  const folders = new Map<string, string[]>();
  for (const [file, deps] of g) {
    const from = unitOf(file);
    const out = folders.get(from) ?? [];
    for (const d of deps) if (unitOf(d) !== from && !out.includes(unitOf(d))) out.push(unitOf(d));
    folders.set(from, out);
  }
  const found = cycles(folders);
  assert.deepEqual(
    found.map((c) => c.join(' -> ')),
    [],
    `folder cycles:\n${found.map((c) => `  ${c.join(' -> ')}`).join('\n')}`,
  );
});

test('layering: core/ imports only core/; rules/ and firmware-bridge/ import only core/ and themselves', () => {
  const allowed: Record<string, string[]> = { core: ['core'], rules: ['rules', 'core'], 'firmware-bridge': ['firmware-bridge', 'core'], gateway: [...TOP] };
  const bad: string[] = [];
  for (const [file, deps] of g) {
    const top = file.split('/')[0]!;
    for (const d of deps) if (!allowed[top]!.includes(d.split('/')[0]!)) bad.push(`${file} imports ${d}`);
  }
  assert.deepEqual(bad, []);
});

test('the checker sees the graph (sanity: it is not vacuous)', () => {
  assert.ok(g.size > 150, `only ${g.size} files parsed`);
  assert.ok(g.get('gateway/runtime/index.ts')?.includes('gateway/pipeline/index.ts'), 'runtime/index.ts is expected to import the pipeline');
  assert.ok(
    g.get('rules/engine.ts')?.some((d) => d.startsWith('core/')),
    'rules/engine.ts imports core/',
  );
  // The cycle finder itself finds a planted cycle.
  const planted = new Map<string, string[]>([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(cycles(planted)[0]!.slice(0, 4), ['a', 'b', 'c', 'a']);
});

test('rule actions live in gateway/pipeline/actions/ only', () => {
  const stray = [...g.keys()].filter((f) => /(^|\/)actions?(\/|\.ts$)/.test(f) && !f.startsWith('gateway/pipeline/actions/'));
  assert.deepEqual(stray, []);
});

test('command-line code lives in gateway/cli/ only (argument parsing, process.argv)', () => {
  const stray = [...g.keys()].filter(
    (f) => !f.startsWith('gateway/cli/') && /\bparseArgs\(|process\.argv/.test(stripComments(readFileSync(join(ROOT, f), 'utf8'))),
  );
  assert.deepEqual(stray, []);
});

// On Node 22 and 24 an ESM import of node:http reads its lazy `WebSocket` export, which loads
// undici and node:tls (~3 MiB of an idle gateway's RSS: core/node-http.ts). The idle-lazy test sees
// it only when run on those versions (CI runs Node 20): round 36's proxy-tunnel.ts imported it and
// every idle gateway on Node 22 and 24 carried undici until round 37. Type-only imports are free.
test('node:http is required through core/node-http.ts, never imported as a value (its ESM namespace loads undici on Node 22+)', () => {
  const VALUE_IMPORT = /(?:^|[;\s])import\s+(?!type\s)[^;]*?\sfrom\s+['"](?:node:)?http['"]|import\(\s*['"](?:node:)?http['"]\s*\)/;
  const stray = [...g.keys()].filter((f) => f !== 'core/node-http.ts' && VALUE_IMPORT.test(stripComments(readFileSync(join(ROOT, f), 'utf8'))));
  assert.deepEqual(stray, []);
  // The pattern finds what it is for.
  assert.ok(VALUE_IMPORT.test("import http from 'node:http';") && VALUE_IMPORT.test("import { request } from 'http';"));
  assert.ok(!VALUE_IMPORT.test("import type http from 'node:http';") && !VALUE_IMPORT.test("import type { IncomingMessage } from 'node:http';"));
});
