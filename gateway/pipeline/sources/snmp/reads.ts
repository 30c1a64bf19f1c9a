// What one poll reads from one target: its scalars (GET, 20 OIDs a request; on v1 a request refused
// for one OID, noSuchName, is asked again OID by OID so the others still read) and its tables (a
// walk of each column, GETNEXT on v1 and GETBULK on v2c/v3 by net-snmp, stopped at maxRows rows).
import type { SnmpSession, Varbind } from './lib.js';
import type { SnmpPoll } from './options.js';
import { isMissing, jsonValue, type JsonValue } from './values.js';

const GET_CHUNK = 20;
const BULK_REPETITIONS = 20;

export interface PollRead {
  fields: Record<string, JsonValue>;
  rows: Record<string, Record<string, Record<string, JsonValue>>>;
  /** Names (fields, table.column) the agent has no value for (null in the message). */
  missing: string[];
  /** Tables cut at maxRows. */
  truncated: string[];
  /** Values read (fields and cells). */
  values: number;
}

/** A request failed in a way that fails the poll (no answer, auth, protocol), as the library said it. */
export class ReadFailure extends Error {
  constructor(readonly raw: unknown) {
    super((raw as Error)?.message ?? String(raw));
  }
}

function get(session: SnmpSession, oids: string[]): Promise<Varbind[]> {
  return new Promise((resolve, reject) => session.get(oids, (err, vbs) => (err ? reject(err) : resolve(vbs))));
}

/** An answer with an error status (net-snmp's RequestFailedError carries `status`). */
function errorStatus(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' ? s : undefined;
}

async function readFields(session: SnmpSession, fields: Record<string, string>, out: PollRead): Promise<void> {
  const entries = Object.entries(fields);
  for (let i = 0; i < entries.length; i += GET_CHUNK) {
    const chunk = entries.slice(i, i + GET_CHUNK);
    let vbs: Array<Varbind | undefined>;
    try {
      vbs = await get(
        session,
        chunk.map(([, oid]) => oid),
      );
    } catch (err) {
      // v1 refuses the whole request for one OID it lacks (noSuchName, status 2): one by one then
      if (errorStatus(err) !== 2) throw new ReadFailure(err);
      vbs = [];
      for (const [, oid] of chunk) {
        try {
          vbs.push((await get(session, [oid]))[0]);
        } catch (e) {
          if (errorStatus(e) !== 2) throw new ReadFailure(e);
          vbs.push(undefined);
        }
      }
    }
    for (const [j, [name]] of chunk.entries()) {
      const vb = vbs[j];
      if (!vb || isMissing(vb)) {
        out.fields[name] = null;
        out.missing.push(name);
      } else {
        out.fields[name] = jsonValue(vb);
        out.values++;
      }
    }
  }
}

/** Walk one column; cells by row index, at most maxRows (true: there were more). */
function walkColumn(session: SnmpSession, oid: string, maxRows: number, cell: (index: string, vb: Varbind) => void): Promise<boolean> {
  let rows = 0;
  let more = false;
  const prefix = `${oid}.`;
  return new Promise((resolve, reject) =>
    session.subtree(
      oid,
      BULK_REPETITIONS,
      (vbs) => {
        for (const vb of vbs) {
          if (isMissing(vb) || !vb.oid.startsWith(prefix)) continue;
          if (rows >= maxRows) {
            more = true;
            return true; // stops the walk
          }
          rows++;
          cell(vb.oid.slice(prefix.length), vb);
        }
        return false;
      },
      (err) => (err ? reject(new ReadFailure(err)) : resolve(more)),
    ),
  );
}

export async function readPoll(session: SnmpSession, poll: SnmpPoll): Promise<PollRead> {
  const out: PollRead = { fields: {}, rows: {}, missing: [], truncated: [], values: 0 };
  if (poll.fields) await readFields(session, poll.fields, out);
  for (const table of poll.tables) {
    const rows: Record<string, Record<string, JsonValue>> = {};
    let truncated = false;
    for (const [name, oid] of Object.entries(table.columns)) {
      const more = await walkColumn(session, oid, table.maxRows, (index, vb) => {
        // a row another column did not reach (it had maxRows before this one) is not started
        const row = rows[index] ?? (Object.keys(rows).length < table.maxRows ? (rows[index] = {}) : undefined);
        if (!row) {
          truncated = true;
          return;
        }
        row[name] = jsonValue(vb);
        out.values++;
      });
      truncated ||= more;
    }
    out.rows[table.name] = rows;
    if (truncated) out.truncated.push(table.name);
  }
  return out;
}
