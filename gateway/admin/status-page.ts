// The status page's files (served by the admin API at / with no build step). Placeholder until
// the page lands: a minimal page that links the JSON API.
export function statusPageFiles(): Map<string, [string, string | Buffer]> {
  return new Map([['/index.html', ['text/html; charset=utf-8', '<!doctype html><title>Gatehouse</title><p>Gatehouse is running. See <a href="/api/overview">/api/overview</a>.</p>']]]);
}
