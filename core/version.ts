// The version a gateway reports: package.json's, read once (works from dist/ and from sources),
// plus the commit of the build (dist/build-info.json, written by `npm run build`) as semver build
// metadata, 0.1.0+3f2a9c1d0e4b: package.json's version is the same for every build, so without it
// a fleet could not tell which build a gateway runs, or whether an upgrade took.
import { readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

function buildCommit(root: string, here: string): string | undefined {
  // Only from dist/: run from sources, dist/ may hold an older build.
  if (!here.startsWith(join(root, 'dist') + sep)) return undefined;
  try {
    const info = JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8')) as { commit?: unknown };
    return typeof info.commit === 'string' && /^[\w.-]+$/.test(info.commit) ? info.commit : undefined;
  } catch {
    return undefined;
  }
}

function findVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gatehouse' && pkg.version) {
        const commit = buildCommit(dir, here);
        return commit ? `${pkg.version}+${commit}` : pkg.version;
      }
    } catch {
      // not here: go up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

export const VERSION: string = findVersion();
