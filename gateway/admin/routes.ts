// The admin API's routes and the methods each takes: the 404 hint, the 405 `Allow` header and the
// request path as sent. The handlers are in server.ts.

/** Every fixed route and its methods; HEAD is taken wherever GET is (RFC 9110 9.3.2). */
const ROUTES: ReadonlyMap<string, readonly string[]> = new Map([
  ['/healthz', ['GET', 'HEAD']],
  ['/metrics', ['GET', 'HEAD']],
  ['/api/overview', ['GET', 'HEAD']],
  ['/api/streams', ['GET', 'HEAD']],
  ['/api/rules', ['GET', 'HEAD', 'PUT']],
  ['/api/rules/rollback', ['POST']],
  ['/api/clients', ['GET', 'HEAD']],
  ['/api/links', ['GET', 'HEAD']],
  ['/api/sources', ['GET', 'HEAD']],
  ['/api/jobs', ['GET', 'HEAD']],
  ['/api/events', ['GET', 'HEAD']],
]);

/** `/api/streams/{name}/records`, the one route with a parameter. */
export const RECORDS_ROUTE = /^\/api\/streams\/([^/]+)\/records$/;

/** The routes listed in a 404's hint: the status page, the fixed ones, the records route. */
export const KNOWN_ROUTES: readonly string[] = ['/ (the status page)', ...ROUTES.keys(), '/api/streams/{name}/records?from=N&limit=N'];

/** The methods a known path takes (for 405 and its `Allow` header), undefined for an unknown path. */
export function allowedMethods(path: string): readonly string[] | undefined {
  return ROUTES.get(path) ?? (RECORDS_ROUTE.test(path) ? ['GET', 'HEAD'] : undefined);
}

/**
 * The request target's path and query, as sent. `new URL('//api/streams', base)` would read a
 * leading '//' as a host name (the path becoming '/streams'); an absolute-form target
 * ('http://host/path', from a proxy) is parsed as the URL it is.
 */
export function requestUrl(target: string | undefined): URL {
  const t = target ?? '/';
  return t.startsWith('/') ? new URL(`http://admin.local${t}`) : new URL(t, 'http://admin.local');
}
