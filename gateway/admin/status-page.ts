// The status page's files, served by the admin API at / (no build step): plain HTML, CSS and
// browser ES modules kept in gateway/admin/page/. They are read once, at the first call, from the
// source tree: the code runs from gateway/admin/ (tsx) or dist/gateway/admin/ (compiled), so the
// folder is found by walking up to the directory holding package.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type StaticFiles = Map<string, [string, string | Buffer]>;

const PAGE_SUBDIR = join('gateway', 'admin', 'page');
/** Nothing else is served: a stray file dropped in the folder must not become a route by accident. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page folder: from the repo root found above `from` (the module's own folder by default). */
export function findPageDir(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      const page = join(dir, PAGE_SUBDIR);
      if (existsSync(join(page, 'index.html'))) return page;
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Read every servable file of `dir` into a route map (`/name.ext`). */
export function loadPageFiles(dir: string): StaticFiles {
  const files: StaticFiles = new Map();
  for (const name of readdirSync(dir).sort()) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    files.set(`/${name}`, [type, readFileSync(join(dir, name))]);
  }
  return files;
}

function missingPage(): StaticFiles {
  // Still useful without the page: the JSON API works, and the text says how to get the page back.
  const html =
    '<!doctype html><meta charset="utf-8"><title>Gatehouse</title>' +
    `<p>Gatehouse is running, but the status page files were not found (expected in <code>${PAGE_SUBDIR}/</code> next to package.json; ` +
    'reinstall the package with that folder). The JSON API works: <a href="/api/overview">/api/overview</a>, <a href="/metrics">/metrics</a>.</p>';
  return new Map([['/index.html', ['text/html; charset=utf-8', html]]]);
}

// Read-only, immutable after the first load, and identical for every gateway in the process: a
// cache here is not shared mutable state, it only saves re-reading files on every request.
let cached: StaticFiles | undefined;

/** Routes of the status page: path -> [content type, body]; `/` is served as `/index.html`. */
export function statusPageFiles(): StaticFiles {
  if (!cached) {
    const dir = findPageDir();
    cached = dir ? loadPageFiles(dir) : missingPage();
  }
  return cached;
}
