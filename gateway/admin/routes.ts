// The admin API's routes and the methods each takes: the 404 hint, the 405 `Allow` header and the
// request path as sent. The handlers are in server.ts.
import { ERRORS } from '../../core/errors.js';
import { HttpError } from './replies.js';

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
  ['/api/dead-letters', ['GET', 'HEAD']],
  ['/api/shadows', ['GET', 'HEAD']],
]);

/** `/api/streams/{name}/records`: read (GET), or purge a dead-letter stream (DELETE ?through=SEQ). */
export const RECORDS_ROUTE = /^\/api\/streams\/([^/]+)\/records$/;
/** Every dead-letter stream summed up (dead-letter-routes.ts). */
export const DEAD_LETTERS_PATH = '/api/dead-letters';
/** `/api/streams/{dlq}/redrive` (POST) and `/api/streams/{dlq}/dead-letters` (GET). */
export const REDRIVE_ROUTE = /^\/api\/streams\/([^/]+)\/redrive$/;
export const DEAD_LETTERS_ROUTE = /^\/api\/streams\/([^/]+)\/dead-letters$/;
/** `/api/streams/{name}`: drop a stream nothing uses (DELETE ?records=N, stream-drop-route.ts). */
export const STREAM_ROUTE = /^\/api\/streams\/([^/]+)$/;

/** The routes listed in a 404's hint: the status page, the fixed ones, the routes with a stream name. */
export const KNOWN_ROUTES: readonly string[] = [
  '/ (the status page)',
  ...ROUTES.keys(),
  '/api/streams/{name}/records?from=N&limit=N',
  'DELETE /api/streams/{dlq}/records?through=SEQ',
  '/api/streams/{dlq}/dead-letters',
  'POST /api/streams/{dlq}/redrive',
  'DELETE /api/streams/{name}?records=N',
  'GET|POST|DELETE /api/shadows/{thing}?name=N',
];

/** The methods a known path takes (for 405 and its `Allow` header), undefined for an unknown path. */
export function allowedMethods(path: string): readonly string[] | undefined {
  if (RECORDS_ROUTE.test(path)) return ['GET', 'HEAD', 'DELETE'];
  if (REDRIVE_ROUTE.test(path)) return ['POST'];
  if (DEAD_LETTERS_ROUTE.test(path)) return ['GET', 'HEAD'];
  if (STREAM_ROUTE.test(path)) return ['DELETE'];
  if (/^\/api\/shadows\/[^/]+$/.test(path)) return ['GET', 'HEAD', 'POST', 'DELETE'];
  return ROUTES.get(path);
}

/**
 * The request target's path and query, as sent. `new URL('//api/streams', base)` would read a
 * leading '//' as a host name (the path becoming '/streams'); an absolute-form target
 * ('http://host/path', from a proxy) is parsed as the URL it is.
 */
export function requestUrl(target: string | undefined): URL {
  const t = target ?? '/';
  try {
    return t.startsWith('/') ? new URL(`http://admin.local${t}`) : new URL(t, 'http://admin.local');
  } catch {
    // a target that is no URL ('http://a:b:c/', 'http://[::1/x': node's HTTP parser lets them
    // through) is the client's error: it was a 500 GH_INTERNAL and an error line in the log per
    // request (found by test/e2e/fuzz-admin.test.ts)
    throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: `request target ${JSON.stringify(t.slice(0, 200))} is not a URL` }));
  }
}
