// The admin API's dead-letter routes (dead-letters.ts does the work): what each takes from the
// path and the query, and the status each refusal answers with.
//   GET    /api/dead-letters                       every dead-letter stream, errors grouped
//   GET    /api/streams/{dlq}/dead-letters         one of them
//   POST   /api/streams/{dlq}/redrive?through=SEQ&limit=N&to=STREAM
//   DELETE /api/streams/{dlq}/records?through=SEQ|last
// The POST and DELETE pass the same guards as PUT /api/rules before they get here (server.ts:
// the token, then the Host and cross-origin checks of origin-guard.ts).
import { ERRORS, GatehouseError, type ErrorCode } from '../../core/errors.js';
import type { DeadLetterOps } from './dead-letters.js';
import { HttpError, parseIntParam } from './replies.js';
import { DEAD_LETTERS_PATH, DEAD_LETTERS_ROUTE, RECORDS_ROUTE, REDRIVE_ROUTE } from './routes.js';

/** The status a refusal of the dead-letter operations answers with. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  GH_ADMIN_BAD_REQUEST: 400,
  GH_STREAM_UNKNOWN: 404,
  GH_NOT_DEAD_LETTERS: 409,
  GH_REDRIVE_TARGET: 409,
  // Another redrive, purge or drop of the stream runs: nothing done.
  GH_STREAM_BUSY: 409,
  GH_RECORD_TOO_LARGE: 409,
  // Retry later: nothing of what was not moved is lost.
  GH_STORE_DISK_FULL: 503,
  GH_STREAM_FULL: 503,
  GH_STORE_CLOSED: 503,
};

export function streamName(encoded: string | undefined): string {
  try {
    return decodeURIComponent(encoded ?? '');
  } catch {
    throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: 'stream name in the path is not valid percent-encoding' }));
  }
}

/** ?through=: a sequence number, 'last', or absent (undefined). */
function throughParam(url: URL): number | 'last' | undefined {
  const v = url.searchParams.get('through');
  if (v === null || v === '') return undefined;
  if (v === 'last') return 'last';
  return parseIntParam(v, 'through', 0, 1, Number.MAX_SAFE_INTEGER);
}

async function answer<T>(run: () => Promise<T>): Promise<[number, T]> {
  try {
    return [200, await run()];
  } catch (err) {
    if (err instanceof GatehouseError && !(err instanceof HttpError)) throw new HttpError(STATUS[err.code] ?? 500, err.code, err.message, err.hint);
    throw err;
  }
}

/**
 * The answer of a dead-letter route, or undefined when the request is not one of them. `clientGone`
 * aborts when the request's client went away: a redrive stops at its next chunk boundary.
 */
export async function deadLetterRoute(
  method: string,
  path: string,
  url: URL,
  ops: DeadLetterOps | undefined,
  clientGone?: AbortSignal,
): Promise<[number, unknown] | undefined> {
  if (!ops) return undefined;
  if (path === DEAD_LETTERS_PATH && method === 'GET') return answer(async () => ({ deadLetters: await ops.list() }));
  const one = DEAD_LETTERS_ROUTE.exec(path);
  if (one && method === 'GET') {
    const name = streamName(one[1]);
    return answer(async () => ({ deadLetters: await ops.list(name) }));
  }
  const redrive = REDRIVE_ROUTE.exec(path);
  if (redrive && method === 'POST') {
    const name = streamName(redrive[1]);
    const through = throughParam(url);
    const limit = url.searchParams.has('limit') ? parseIntParam(url.searchParams.get('limit'), 'limit', 1, 1, Number.MAX_SAFE_INTEGER) : undefined;
    const to = url.searchParams.get('to') ?? undefined;
    if (to === '') throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: "query parameter 'to' names no stream" }, { hint: 'e.g. ?to=archive' }));
    return answer(() =>
      ops.redrive(name, {
        ...(through === undefined || through === 'last' ? {} : { through }),
        ...(limit === undefined ? {} : { limit }),
        ...(to === undefined ? {} : { to }),
        ...(clientGone === undefined ? {} : { signal: clientGone }),
      }),
    );
  }
  const records = RECORDS_ROUTE.exec(path);
  if (records && method === 'DELETE') {
    const name = streamName(records[1]);
    const through = throughParam(url);
    if (through === undefined) {
      throw HttpError.of(
        400,
        ERRORS.GH_ADMIN_BAD_REQUEST(
          { reason: 'a purge needs ?through=SEQ: the last dead letter to remove, one you read (or through=last for every one held now)' },
          { hint: `read them first: GET /api/streams/${encodeURIComponent(name)}/records` },
        ),
      );
    }
    return answer(() => ops.purge(name, through));
  }
  return undefined;
}
