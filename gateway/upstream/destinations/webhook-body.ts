// The body of one webhook request (webhook.ts) in its format: NDJSON, a JSON array, or InfluxDB
// line protocol, with the records that cannot be written in it set aside, each with its reason (the
// destination dead-letters those alone; the others go).
import type { StoredRecord } from '../../store/types.js';
import { NdjsonWriter } from './ndjson.js';
import { influxLine } from './influx-line.js';
import type { WebhookOptions } from './webhook-options.js';

export interface WebhookBody {
  /** The body, uncompressed (empty when no record could be written). */
  body: Buffer;
  /** Index (in the batch) of each record that could not be written, with why. */
  refused: Map<number, string>;
}

export const CONTENT_TYPES: Record<WebhookOptions['format'], string> = {
  ndjson: 'application/x-ndjson',
  json: 'application/json',
  influx: 'text/plain; charset=utf-8',
};

const NEWLINE = 0x0a;

/** The payload as one line of JSON (re-serialised when it spans lines), or undefined when it is not JSON. */
function payloadJson(p: Buffer): Buffer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(p.toString('utf8'));
  } catch {
    return undefined;
  }
  return p.includes(NEWLINE) || p.includes(0x0d) ? Buffer.from(JSON.stringify(value)) : p;
}

/** One JSON document per record: the export line, or the payload alone. */
function jsonItems(records: readonly StoredRecord[], o: WebhookOptions, writer: NdjsonWriter, refused: Map<number, string>): Buffer[] {
  if (o.records === 'line') {
    // The writer's lines end in \n and hold no other line break (JSON escapes them in strings).
    const all = writer.batch(records);
    const items: Buffer[] = [];
    let start = 0;
    for (let i = all.indexOf(NEWLINE); i >= 0; i = all.indexOf(NEWLINE, start)) {
      items.push(all.subarray(start, i));
      start = i + 1;
    }
    return items;
  }
  const items: Buffer[] = [];
  records.forEach((r, i) => {
    const json = payloadJson(r.payload);
    if (json === undefined) refused.set(i, 'the payload is not JSON (records: payload sends each payload as a JSON document; records: line wraps any payload)');
    else items.push(json);
  });
  return items;
}

/** Encodes batches for one destination (the NDJSON writer's buffer is reused). */
export class WebhookEncoder {
  private readonly writer = new NdjsonWriter();

  constructor(private readonly o: WebhookOptions) {}

  encode(records: readonly StoredRecord[]): WebhookBody {
    const refused = new Map<number, string>();
    if (this.o.format === 'influx') {
      const lines: string[] = [];
      records.forEach((r, i) => {
        const out = influxLine(r, this.o.influx);
        if ('error' in out) refused.set(i, out.error);
        else lines.push(out.line);
      });
      return { body: Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8'), refused };
    }
    // The export lines as the file destination writes them: the body as is.
    if (this.o.format === 'ndjson' && this.o.records === 'line') return { body: this.writer.batch(records), refused };
    const items = jsonItems(records, this.o, this.writer, refused);
    if (items.length === 0) return { body: Buffer.alloc(0), refused };
    if (this.o.format === 'ndjson') {
      const parts: Buffer[] = [];
      for (const it of items) parts.push(it, Buffer.from('\n'));
      return { body: Buffer.concat(parts), refused };
    }
    const parts: Buffer[] = [Buffer.from('[')];
    items.forEach((it, i) => parts.push(i === 0 ? it : Buffer.concat([Buffer.from(','), it])));
    parts.push(Buffer.from(']'));
    return { body: Buffer.concat(parts), refused };
  }
}
