// The table files a failed LevelDB compaction left behind, found from LevelDB's MANIFEST while the
// database is closed. A compaction that fails on a full disk (ENOSPC) leaves its output files on
// disk; LevelDB deletes them only when it opens again, after replaying its log into a new table,
// which needs the room those files hold. With the space ballast already given up (space-ballast.ts),
// nothing could free that room: the store stayed unwritable for good (round 26: a reopened store
// whose next compaction failed too, on a disk its backlog had filled).
//
// What is deleted is what LevelDB's own open would delete (DeleteObsoleteFiles in db_impl.cc): a
// table file its current MANIFEST does not list. Only more narrowly, because deleting a live table
// loses data: only while the database is closed (no compaction in flight), only `NNNNNN.ldb` or
// `.sst` files numbered at or above the MANIFEST's next file number (allocated after its last
// edit: the failed compaction's outputs), and nothing at all unless every MANIFEST record up to its
// end checks (CRC32C) and decodes. A torn last record (a power cut while LevelDB wrote it) is
// ignored, as LevelDB ignores it.
//
// Formats (LevelDB 1.20, deps of classic-level): the MANIFEST is a log file of 32 KiB blocks of
// records [masked crc32c u32le][length u16le][type u8][data], type 1 full, 2 first, 3 middle, 4
// last (db/log_format.h); each record is a VersionEdit, tagged varints (db/version_edit.cc).
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK = 32768;
const HEADER = 7;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32c(buf: Buffer, from: number, to: number): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** LevelDB stores crc32c masked (util/crc32c.h Mask). */
function masked(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

class Bad extends Error {}

/** The records of a LevelDB log file; a torn or unfinished last record is left out. Throws Bad on corruption before the end. */
export function logRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let parts: Buffer[] | undefined;
  let at = 0;
  while (at < buf.length) {
    const inBlock = BLOCK - (at % BLOCK);
    if (inBlock < HEADER) {
      at += inBlock; // trailer: zeros
      continue;
    }
    if (at + HEADER > buf.length) break; // torn header at the end
    const len = buf.readUInt16LE(at + 4);
    const type = buf[at + 6]!;
    if (type === 0 && len === 0) break; // preallocated, never written
    const end = at + HEADER + len;
    if (end > buf.length) break; // torn record at the end
    if (len > inBlock - HEADER) throw new Bad(`record at ${at} crosses its block`);
    if (masked(crc32c(buf, at + 6, end)) !== buf.readUInt32LE(at)) {
      if (end === buf.length) break; // torn last record
      throw new Bad(`checksum of the record at ${at}`);
    }
    const data = buf.subarray(at + HEADER, end);
    if (type === 1) {
      if (parts) throw new Bad(`full record at ${at} inside a fragmented one`);
      out.push(data);
    } else if (type === 2) {
      if (parts) throw new Bad(`first fragment at ${at} inside a fragmented one`);
      parts = [data];
    } else if (type === 3 || type === 4) {
      if (!parts) throw new Bad(`fragment at ${at} without its first`);
      parts.push(data);
      if (type === 4) {
        out.push(Buffer.concat(parts));
        parts = undefined;
      }
    } else throw new Bad(`record type ${type} at ${at}`);
    at = end;
  }
  return out;
}

class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  get done(): boolean {
    return this.at >= this.b.length;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.b.length) throw new Bad('varint past the end of an edit');
      const byte = this.b[this.at++]!;
      result += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new Bad('varint beyond 2^53');
        return result;
      }
      mul *= 128;
    }
    throw new Bad('varint of more than 10 bytes');
  }
  skipSlice(): void {
    const n = this.varint();
    if (this.at + n > this.b.length) throw new Bad('slice past the end of an edit');
    this.at += n;
  }
}

export interface ManifestState {
  /** Table numbers of the current version, all levels. */
  live: Set<number>;
  /** The next file number the last edit recorded: files numbered from it were made after it. */
  nextFile: number;
}

/** Replay the VersionEdits of a MANIFEST. Throws on any record it cannot decode. */
export function replayManifest(buf: Buffer): ManifestState {
  const levels = new Map<number, Set<number>>();
  let nextFile = 0;
  for (const rec of logRecords(buf)) {
    const r = new Reader(rec);
    while (!r.done) {
      const tag = r.varint();
      switch (tag) {
        case 1: // comparator
          r.skipSlice();
          break;
        case 2: // log number
        case 4: // last sequence
        case 9: // prev log number
          r.varint();
          break;
        case 3: // next file number
          nextFile = r.varint();
          break;
        case 5: // compact pointer: level, internal key
          r.varint();
          r.skipSlice();
          break;
        case 6: {
          // deleted file: level, number
          const level = r.varint();
          levels.get(level)?.delete(r.varint());
          break;
        }
        case 7: {
          // new file: level, number, size, smallest, largest
          const level = r.varint();
          const number = r.varint();
          r.varint();
          r.skipSlice();
          r.skipSlice();
          let set = levels.get(level);
          if (!set) levels.set(level, (set = new Set()));
          set.add(number);
          break;
        }
        default:
          throw new Bad(`unknown VersionEdit tag ${tag}`);
      }
    }
  }
  if (nextFile === 0) throw new Bad('no next file number');
  const live = new Set<number>();
  for (const set of levels.values()) for (const n of set) live.add(n);
  return { live, nextFile };
}

const TABLE = /^(\d+)\.(ldb|sst)$/;

/** The MANIFEST that CURRENT names in the database at `dir`, replayed. Throws when it cannot be read or decoded. */
export async function readCurrentManifest(dir: string): Promise<ManifestState> {
  const current = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
  if (!/^MANIFEST-\d+$/.test(current)) throw new Bad(`CURRENT names ${JSON.stringify(current.slice(0, 40))}, not a MANIFEST`);
  return replayManifest(await readFile(join(dir, current)));
}

/**
 * The orphan tables of the closed database at `dir` (see the top of the file): their paths and
 * sizes. Empty when the MANIFEST cannot be read or decoded: nothing is deleted then.
 */
export async function findOrphanTables(dir: string): Promise<Array<{ path: string; bytes: number }>> {
  let state: ManifestState;
  try {
    state = await readCurrentManifest(dir);
  } catch {
    return [];
  }
  const out: Array<{ path: string; bytes: number }> = [];
  for (const name of await readdir(dir)) {
    const m = TABLE.exec(name);
    if (!m) continue;
    const number = Number(m[1]);
    if (state.live.has(number) || number < state.nextFile) continue;
    const path = join(dir, name);
    const bytes = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    out.push({ path, bytes });
  }
  return out;
}

/** Delete the orphan tables of the closed database at `dir`; resolves with the bytes freed. */
export async function deleteOrphanTables(dir: string): Promise<number> {
  let freed = 0;
  for (const o of await findOrphanTables(dir)) {
    await unlink(o.path).then(
      () => (freed += o.bytes),
      () => undefined,
    );
  }
  return freed;
}
