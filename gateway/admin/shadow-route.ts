// The admin API's Device Shadow routes (the local shadow service, gateway/shadow/; docs/shadows.md):
//   GET /api/shadows                         every shadow: thing, name, version, timestamp, state size
//   GET /api/shadows/{thing}[?name=N]        the document, as get/accepted shows it
//   POST /api/shadows/{thing}[?name=N]       an update request document: answered as update/accepted,
//                                            with the same delta and documents publishes as over MQTT
//   DELETE /api/shadows/{thing}[?name=N]     delete: answered as delete/accepted
// A refusal is the HTTP status AWS's code is (400, 404, 409, 413, 429), GH_SHADOW_REJECTED.
import { ERRORS } from '../../core/errors.js';
import { HttpError, readBody } from './replies.js';
import type { IncomingMessage } from 'node:http';

/** What a request came to (gateway/shadow/service.ts Outcome). */
export type ShadowOutcome = { ok: true; answer: object } | { ok: false; rejection: { code: number; message: string } };

export interface ShadowOps {
  get(thing: string, name: string | undefined): Promise<ShadowOutcome>;
  update(thing: string, name: string | undefined, body: Buffer): Promise<ShadowOutcome>;
  delete(thing: string, name: string | undefined): Promise<ShadowOutcome>;
  list(): Promise<unknown[]>;
}

export const SHADOWS_PATH = '/api/shadows';
export const SHADOW_ROUTE = /^\/api\/shadows\/([^/]+)$/;

function answer(o: ShadowOutcome): [number, unknown] {
  if (o.ok) return [200, o.answer];
  const { code, message } = o.rejection;
  throw new HttpError(code, 'GH_SHADOW_REJECTED', ERRORS.GH_SHADOW_REJECTED({ code, message }).message);
}

/** The answer of a shadow route, or undefined when the request is not one. */
export async function shadowRoute(
  method: string,
  path: string,
  url: URL,
  req: IncomingMessage,
  maxBodyBytes: number,
  ops: ShadowOps | undefined,
): Promise<[number, unknown] | undefined> {
  const m = SHADOW_ROUTE.exec(path);
  if (path !== SHADOWS_PATH && !m) return undefined;
  if (!ops)
    throw HttpError.of(
      404,
      ERRORS.GH_ADMIN_NOT_FOUND(
        { what: 'the Device Shadow service' },
        { hint: 'it is switched off in this gateway (shadows.enabled: false): docs/shadows.md' },
      ),
    );
  if (path === SHADOWS_PATH) return method === 'GET' ? [200, { shadows: await ops.list() }] : undefined;
  if (!m) return undefined;
  let thing: string;
  try {
    thing = decodeURIComponent(m[1] ?? '');
  } catch {
    throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: 'thing name in the path is not valid percent-encoding' }));
  }
  const name = url.searchParams.get('name') ?? undefined;
  if (method === 'GET') return answer(await ops.get(thing, name));
  if (method === 'DELETE') return answer(await ops.delete(thing, name));
  if (method === 'POST') return answer(await ops.update(thing, name, await readBody(req, maxBodyBytes)));
  return undefined;
}
