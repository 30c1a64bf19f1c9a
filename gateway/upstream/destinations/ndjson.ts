// NDJSON export lines (format: docs/destinations.md#ndjson-export-lines), built straight into one
// Buffer per batch. One line per record:
//   {"id":"<stream>:<seq>","stream":..,"seq":..,"topic":..,"receivedAt":<epoch ms>,
//    "key":..(if any),"attrs":{..}(if any), then exactly one of
//    "payload":<the payload as a JSON value, when it is valid UTF-8 and parses as JSON>
//    "payloadText":"<the payload as a string, when it is valid UTF-8 but not JSON>"
//    "payloadBase64":"<the payload in base64, otherwise>"}
//
// Why not strings: a line built as a string costs the payload's UTF-8 decode, a JSON.parse to
// prove it can be embedded, the string concatenation of the batch and its UTF-8 encode back into
// a Buffer. Here a JSON payload is checked by a byte scanner (RFC 8259 grammar, no objects made)
// and copied as it is; only the short head of each line is a string, with the JSON form of each
// topic cached (topics repeat: one per device). Payloads with line breaks (pretty-printed JSON)
// take the old way: parsed and re-serialised onto one line.
import { isUtf8 } from 'node:buffer';
import type { StoredRecord } from '../../store/types.js';

/** Containers deeper than this are checked by JSON.parse instead (the scanner keeps a fixed stack). */
const MAX_DEPTH = 128;
/** Topic JSON strings cached per writer (cleared when full: a bounded map, no eviction order needed). */
const TOPIC_CACHE_MAX = 4096;

const SP = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Spaces and tabs only: the caller has already sent payloads with CR or LF the slow way. */
function ws(b: Uint8Array, i: number, end: number): number {
  while (i < end && (b[i] === SP || b[i] === TAB)) i++;
  return i;
}

/** End of the string starting at b[i] (a quote), or -1. Bytes >= 0x80 are checked by isUtf8. */
function str(b: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    let c = b[i]!;
    // The plain run of a string first (most of a telemetry payload's bytes).
    while (c >= 0x20 && c !== QUOTE && c !== BACKSLASH && ++i < end) c = b[i]!;
    if (i >= end) return -1;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) {
        // \uXXXX
        if (i + 5 >= end || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!) || !isHex(b[i + 5]!)) return -1;
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return -1;
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

/** End of the number starting at b[i], or -1: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function num(b: Uint8Array, i: number, end: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= end) return -1;
  const c = b[i]!;
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    i++;
    while (i < end && isDigit(b[i]!)) i++;
  } else return -1;
  if (i < end && b[i] === 0x2e) {
    const s = ++i;
    while (i < end && isDigit(b[i]!)) i++;
    if (i === s) return -1;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    const s = i;
    while (i < end && isDigit(b[i]!)) i++;
    if (i === s) return -1;
  }
  return i;
}

function literal(b: Uint8Array, i: number, end: number, word: string): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** After `"key"` in an object: the index after the colon, or -1. */
function afterKey(b: Uint8Array, i: number, end: number): number {
  i = ws(b, i, end);
  if (i >= end || b[i] !== QUOTE) return -1;
  i = ws(b, str(b, i, end), end);
  if (i < 0 || i >= end || b[i] !== 0x3a) return -1;
  return i + 1;
}

/** The scanner's stack of open containers: one for all calls (the scan is synchronous, never re-entered). */
const containerStack = new Uint8Array(MAX_DEPTH);

/**
 * Whether b[start, end) is exactly one JSON value with spaces or tabs around it (no CR/LF: the
 * caller checks). undefined when nesting is deeper than MAX_DEPTH (ask JSON.parse).
 */
export function isJsonText(b: Uint8Array, start: number, end: number): boolean | undefined {
  const stack = containerStack;
  let depth = 0;
  let i = start;
  for (;;) {
    // A value at i.
    i = ws(b, i, end);
    if (i >= end) return false;
    const c = b[i]!;
    if (c === 0x7b || c === 0x5b) {
      const close = c === 0x7b ? 0x7d : 0x5d;
      const j = ws(b, i + 1, end);
      if (j < end && b[j] === close) i = j + 1;
      else {
        if (depth === MAX_DEPTH) return undefined;
        stack[depth++] = c;
        i = c === 0x7b ? afterKey(b, i + 1, end) : i + 1;
        if (i < 0) return false;
        continue;
      }
    } else if (c === QUOTE) i = str(b, i, end);
    else if (c === 0x74) i = literal(b, i, end, 'true');
    else if (c === 0x66) i = literal(b, i, end, 'false');
    else if (c === 0x6e) i = literal(b, i, end, 'null');
    else i = num(b, i, end);
    if (i < 0) return false;
    // After a value: close containers, or a comma and the next member.
    for (;;) {
      i = ws(b, i, end);
      if (depth === 0) return i === end;
      if (i >= end) return false;
      const d = b[i]!;
      const top = stack[depth - 1];
      if (d === 0x2c) {
        i = top === 0x7b ? afterKey(b, i + 1, end) : i + 1;
        if (i < 0) return false;
        break;
      }
      if ((top === 0x7b && d === 0x7d) || (top === 0x5b && d === 0x5d)) {
        depth--;
        i++;
        continue;
      }
      return false;
    }
  }
}

/** Builds NDJSON batches into Buffers; one per destination (it caches topic encodings). */
export class NdjsonWriter {
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private off = 0;
  private readonly topics = new Map<string, string>();
  private stream = '';
  private streamJson = '""';
  private streamInId = '';

  /** The lines of these records, as one Buffer (a copy: the writer's own buffer is reused). */
  batch(records: readonly StoredRecord[]): Buffer {
    this.off = 0;
    for (const r of records) this.line(r);
    return Buffer.from(this.buf.subarray(0, this.off));
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** Append a string (UTF-8); room for its worst case (3 bytes per UTF-16 unit) is made first. */
  private text(s: string): void {
    this.ensure(s.length * 3);
    this.off += this.buf.write(s, this.off);
  }

  private topicJson(topic: string): string {
    let j = this.topics.get(topic);
    if (j === undefined) {
      if (this.topics.size >= TOPIC_CACHE_MAX) this.topics.clear();
      j = JSON.stringify(topic);
      this.topics.set(topic, j);
    }
    return j;
  }

  private line(rec: StoredRecord): void {
    if (rec.stream !== this.stream) {
      this.stream = rec.stream;
      this.streamJson = JSON.stringify(rec.stream);
      this.streamInId = this.streamJson.slice(1, -1);
    }
    let head = `{"id":"${this.streamInId}:${rec.seq}","stream":${this.streamJson},"seq":${rec.seq},"topic":${this.topicJson(rec.topic)},"receivedAt":${rec.receivedAt}`;
    if (rec.key !== undefined) head += `,"key":${JSON.stringify(rec.key)}`;
    if (rec.attrs !== undefined) head += `,"attrs":${JSON.stringify(rec.attrs)}`;
    const p = rec.payload;
    const utf8 = isUtf8(p);
    if (utf8 && p.length > 0 && p.indexOf(0x0a) < 0 && p.indexOf(0x0d) < 0) {
      let ok = isJsonText(p, 0, p.length);
      if (ok === undefined) ok = parses(p);
      if (ok) {
        let s = 0;
        let e = p.length;
        while (p[s] === SP || p[s] === TAB) s++;
        while (p[e - 1] === SP || p[e - 1] === TAB) e--;
        this.text(`${head},"payload":`);
        this.ensure(e - s + 2);
        this.off += p.copy(this.buf, this.off, s, e);
        this.buf[this.off++] = 0x7d;
        this.buf[this.off++] = 0x0a;
        return;
      }
    } else if (utf8 && p.length > 0) {
      // Line breaks inside: a pretty-printed JSON value goes onto one line.
      const value = parsed(p);
      if (value !== undefined) {
        this.text(`${head},"payload":${value}}\n`);
        return;
      }
    }
    if (utf8) this.text(`${head},"payloadText":${JSON.stringify(p.toString('utf8'))}}\n`);
    else this.text(`${head},"payloadBase64":"${p.toString('base64')}"}\n`);
  }
}

function parses(p: Buffer): boolean {
  try {
    JSON.parse(p.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** The payload re-serialised onto one line, when it is JSON. */
function parsed(p: Buffer): string | undefined {
  try {
    return JSON.stringify(JSON.parse(p.toString('utf8')));
  } catch {
    return undefined;
  }
}

/** One NDJSON line (with its newline) for a record: for tests and single records. */
export function ndjsonLine(rec: StoredRecord): string {
  return new NdjsonWriter().batch([rec]).toString('utf8');
}
