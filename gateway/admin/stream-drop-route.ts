// The admin API's stream drop (stream-drop.ts does the work):
//   DELETE /api/streams/{name}?records=N
// It passes the same guards as PUT /api/rules before it gets here (server.ts: the token, then the
// Host and cross-origin checks of origin-guard.ts).
import { ERRORS, GatehouseError, type ErrorCode } from '../../core/errors.js';
import { streamName } from './dead-letter-routes.js';
import { HttpError, parseIntParam } from './replies.js';
import { STREAM_ROUTE } from './routes.js';
import type { StreamDropOps, StreamDropResult } from './stream-drop.js';

/** The status a refusal of a drop answers with. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  GH_STREAM_UNKNOWN: 404,
  GH_STREAM_USED: 409,
  GH_STREAM_DROP_COUNT: 409,
  // Appends pending, or its count changed between the check and the drop: nothing removed.
  GH_STREAM_IN_USE: 409,
  // A redrive or purge of it runs (stream-operations.ts): nothing removed.
  GH_STREAM_BUSY: 409,
  GH_STORE_DISK_FULL: 503,
  GH_STORE_CLOSED: 503,
};

/** The answer of DELETE /api/streams/{name}, or undefined when the request is not it. */
export async function streamDropRoute(method: string, path: string, url: URL, ops: StreamDropOps | undefined): Promise<[number, StreamDropResult] | undefined> {
  const m = STREAM_ROUTE.exec(path);
  if (!ops || !m || method !== 'DELETE') return undefined;
  const name = streamName(m[1]);
  const v = url.searchParams.get('records');
  if (v === '')
    throw HttpError.of(
      400,
      ERRORS.GH_ADMIN_BAD_REQUEST({ reason: "query parameter 'records' is empty" }, { hint: 'e.g. ?records=120, what GET /api/streams says it holds' }),
    );
  const records = v === null ? undefined : parseIntParam(v, 'records', 0, 0, Number.MAX_SAFE_INTEGER);
  try {
    return [200, await ops.drop(name, records)];
  } catch (err) {
    if (err instanceof GatehouseError && !(err instanceof HttpError)) throw new HttpError(STATUS[err.code] ?? 500, err.code, err.message, err.hint);
    throw err;
  }
}
