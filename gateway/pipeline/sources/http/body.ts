// The body of a request to an http source, read under a byte bound, and decoded when it came
// compressed (Fluent Bit's `compress gzip`, Telegraf's `content_encoding = "gzip"`: common on
// metered uplinks). The bound holds for what is DECODED: a body of 1 MiB of gzip that inflates to
// 1 GiB is refused (413) once maxBytes are decoded; the inflater is destroyed then, so no more is
// decoded nor held (node's zlib works a chunk of output at a time: 16 KiB, each a short task on
// libuv's thread pool, never one long enough to stall the store's disk work). The bytes received
// are held to maxBytes too. A body that does not decode (corrupt, cut short) is refused 400 naming
// the encoding. Nothing is submitted for a body refused anywhere (NDJSON all or nothing holds).
import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, createInflateRaw, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib';
import type { Refusal } from './request.js';

/** The Content-Encodings decoded; another is refused 415. */
export type BodyEncoding = 'gzip' | 'deflate';
export const DECODED_ENCODINGS = 'gzip (x-gzip) and deflate';

/**
 * The Content-Encoding of a request: none (absent, identity), one this source decodes, or a 415
 * (br, zstd, snappy, compress, or several codings one over the other).
 */
export function bodyEncoding(header: string | undefined): { encoding: BodyEncoding | undefined } | Refusal {
  const e = (header ?? '').trim().toLowerCase();
  if (e === '' || e === 'identity') return { encoding: undefined };
  if (e === 'gzip' || e === 'x-gzip') return { encoding: 'gzip' };
  if (e === 'deflate') return { encoding: 'deflate' };
  return {
    status: 415,
    outcome: 'bad-request',
    reason: `Content-Encoding ${e.slice(0, 40)} is not taken: send the body uncompressed or as ${DECODED_ENCODINGS} (Fluent Bit: compress gzip; Telegraf: content_encoding = "gzip")`,
  };
}

export type BodyResult =
  | { body: Buffer }
  /** Over maxBytes: received (`received`: the bytes read) or decoded (`decoded`: the bytes inflated when it stopped). */
  | { tooLarge: true; decoded?: number; received?: number }
  /** A compressed body that does not decode: zlib's reason. */
  | { corrupt: string }
  | { gone: true };

type Decoder = Gunzip | Inflate | InflateRaw;

/**
 * Read the body up to maxBytes (and decode it: at most maxBytes decoded). Over it (said by
 * Content-Length or found while reading or decoding), stop reading at once: `tooLarge` (the caller
 * answers 413 and closes). The client gone first: `gone`.
 */
export function readBody(req: IncomingMessage, maxBytes: number, encoding?: BodyEncoding): Promise<BodyResult> {
  // Cut while its credentials were checked (a stop, the client gone): its events are past, none would come.
  if (req.destroyed) return Promise.resolve({ gone: true });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve({ tooLarge: true, received: 0 });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let size = 0;
    let done = false;
    let decoder: Decoder | undefined;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      if (decoder) {
        decoder.removeAllListeners('data');
        decoder.on('error', () => undefined); // a write after its destroy, or its last error
        decoder.destroy();
      }
      if (!('body' in r)) {
        chunks.length = 0;
        req.pause(); // not read further: the refusal closes the connection
      }
      resolve(r);
    };
    const keep = (chunk: Buffer): boolean => {
      size += chunk.length;
      if (size > maxBytes) {
        finish(decoder ? { tooLarge: true, decoded: size } : { tooLarge: true, received });
        return false;
      }
      chunks.push(chunk);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (!encoding) {
        keep(chunk);
        return;
      }
      if (received > maxBytes) {
        finish({ tooLarge: true, received });
        return;
      }
      decoder ??= createDecoder(encoding, chunk);
      // The inflater's backpressure: the socket is not read faster than the body decodes.
      if (!decoder.write(chunk)) {
        req.pause();
        decoder.once('drain', () => {
          if (!done) req.resume();
        });
      }
    };
    const ended = (): void => finish({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
    const createDecoder = (e: BodyEncoding, first: Buffer): Decoder => {
      const d = e === 'gzip' ? createGunzip() : zlibWrapped(first) ? createInflate() : createInflateRaw();
      d.on('data', (out: Buffer) => {
        if (!done) keep(out);
      });
      d.once('end', ended);
      d.once('error', (err: Error) => finish({ corrupt: err.message }));
      return d;
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!encoding) return ended();
      // An empty compressed body does not decode (no header): said as zlib says it.
      (decoder ??= createDecoder(encoding, Buffer.alloc(0))).end();
    });
    req.once('error', () => finish({ gone: true }));
    req.once('close', () => {
      if (!req.complete) finish({ gone: true });
    });
  });
}

/**
 * HTTP's deflate is zlib-wrapped (RFC 9110 8.4.1.2); some clients send raw deflate instead. Told
 * apart by the zlib header (CM 8 and a check of 31), as browsers and curl do.
 */
function zlibWrapped(first: Buffer): boolean {
  const b0 = first[0];
  const b1 = first[1];
  if (b0 === undefined) return true;
  return (b0 & 0x0f) === 8 && (b1 === undefined || ((b0 << 8) | b1) % 31 === 0);
}
