// Bytes of one file -> records, with their file offsets. Bounded: a line longer than maxLineBytes
// keeps its first maxLineBytes (the rest, up to its newline, is skipped and counted), and a
// multi-line record is bounded the same way. The splitter never holds more than ~maxLineBytes.
//
// `safeOffset()` is the offset of the first byte not yet turned into a record (the start of the
// incomplete last line, or of the multi-line record still being assembled): what the source
// commits, so a restart re-reads exactly the bytes no record was made of.

const NL = 0x0a;

/**
 * Where to cut `bytes` to keep at most `len` of them without splitting a UTF-8 character: a cut in
 * the middle of one made the kept text invalid UTF-8 (sent base64, counted as not UTF-8).
 */
export function utf8Cut(bytes: Buffer, len: number): number {
  if (len >= bytes.length) return len;
  let cut = len;
  // Back over continuation bytes (10xxxxxx) to the start of the character (at most 3 of them).
  while (cut > 0 && len - cut < 3 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return (bytes[cut]! & 0xc0) === 0x80 ? len : cut;
}

export interface SplitRecord {
  payload: Buffer;
  /** File offset of the record's first byte. */
  start: number;
  /** File offset just after the record (after its newline). */
  end: number;
  /** Cut at maxLineBytes. */
  cut?: boolean;
  /** Emitted without its newline (partial line timeout). */
  partial?: boolean;
}

export interface SplitterOptions {
  maxLineBytes: number;
  /** Lines to drop at the start of the file (only while reading from its first line). */
  skipHeaderLines: number;
  /** Returns true when a line starts a new record (multi-line mode); undefined = one line, one record. */
  isRecordStart?: (line: Buffer) => boolean;
  /** Keep the last header line skipped (`header`): the source compares CSV headers (CSVTOJSON). */
  keepHeader?: boolean;
}

/** Bytes of a header line kept (keepHeader). */
const MAX_HEADER_BYTES = 4096;

export interface SplitterCounters {
  linesCut: number;
  bytesSkipped: number;
  /** NUL bytes dropped at the file's start (a hole: a writer without O_APPEND after copytruncate). */
  nulBytesSkipped: number;
  headerLinesSkipped: number;
}

export class LineSplitter {
  /** Bytes of the incomplete last line (bounded by maxLineBytes). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** File offset of the incomplete line's first byte. */
  private lineStart: number;
  /** Inside an over-long line: its first maxLineBytes are kept, the rest skipped to the newline. */
  private cutting = false;
  /** Multi-line record being assembled. */
  private record: Buffer[] = [];
  private recordBytes = 0;
  private recordStart = -1;
  private recordEnd = -1;
  private recordCut = false;
  /** Offset just after the last byte consumed from the input. */
  private position: number;
  /** Every byte read so far (from offset 0) was NUL: see push. */
  private inLeadingHole: boolean;
  headersLeft: number;
  /** The last of the skipped header lines, once skipped (keepHeader); taken by the tracker. */
  header: Buffer | undefined;
  readonly counters: SplitterCounters = { linesCut: 0, bytesSkipped: 0, nulBytesSkipped: 0, headerLinesSkipped: 0 };

  constructor(
    private readonly options: SplitterOptions,
    offset: number,
    headersLeft = offset === 0 ? options.skipHeaderLines : 0,
  ) {
    this.lineStart = offset;
    this.position = offset;
    this.inLeadingHole = offset === 0;
    this.headersLeft = headersLeft;
  }

  /** Offset of the first byte not yet part of an emitted record. */
  safeOffset(): number {
    return this.recordStart >= 0 ? this.recordStart : this.lineStart;
  }

  /** Offset just after the last byte pushed. */
  get readOffset(): number {
    return this.position;
  }

  /** Bytes held (incomplete line + multi-line record). */
  get heldBytes(): number {
    return this.pendingBytes + this.recordBytes;
  }

  /** Feed the bytes read at `this.readOffset`; returns the records completed by them. */
  push(chunk: Buffer, out: SplitRecord[] = []): SplitRecord[] {
    const base = this.position;
    let from = 0;
    while (from < chunk.length) {
      if (this.inLeadingHole) {
        // NUL bytes opening a file are a hole, not text: a writer without O_APPEND goes on at its
        // old offset after copytruncate's truncate, so the file reads as NULs up to there (as big
        // as the log was), then its next line. Kept, they made one record of the hole and that
        // line, cut at maxLineBytes: the line lost. Dropped (counted), as Fluent Bit's tail does.
        let n = from;
        while (n < chunk.length && chunk[n] === 0) n++;
        this.counters.nulBytesSkipped += n - from;
        from = n;
        this.lineStart = base + from;
        if (from < chunk.length) this.inLeadingHole = false;
        continue;
      }
      const nl = chunk.indexOf(NL, from);
      if (nl < 0) {
        this.hold(chunk.subarray(from));
        break;
      }
      let line: Buffer;
      let cut = this.cutting;
      if (this.pendingBytes === 0 && !this.cutting) {
        line = chunk.subarray(from, nl);
        if (line.length > this.options.maxLineBytes) {
          line = line.subarray(0, utf8Cut(line, this.options.maxLineBytes));
          this.counters.bytesSkipped += nl - from - line.length;
          cut = true;
        }
      } else {
        this.hold(chunk.subarray(from, nl));
        line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      }
      if (cut) this.counters.linesCut++;
      const start = this.lineStart;
      const end = base + nl + 1;
      this.pending = [];
      this.pendingBytes = 0;
      this.cutting = false;
      this.lineStart = end;
      this.line(line, start, end, cut, out);
      from = nl + 1;
    }
    this.position = base + chunk.length;
    return out;
  }

  /**
   * Emit what is held as if complete: the incomplete line (partial: no newline yet) and the
   * multi-line record. Used by the partial-line timeout and at a file's end before switching away.
   */
  flush(out: SplitRecord[] = []): SplitRecord[] {
    if (this.pendingBytes > 0 || this.cutting) {
      const line = Buffer.concat(this.pending, this.pendingBytes);
      const cut = this.cutting;
      if (cut) this.counters.linesCut++;
      const start = this.lineStart;
      this.pending = [];
      this.pendingBytes = 0;
      this.cutting = false;
      this.lineStart = this.position;
      this.line(line, start, this.position, cut, out, true);
    }
    this.flushRecord(out);
    return out;
  }

  /** Flush only a held multi-line record (not an incomplete line). */
  flushRecord(out: SplitRecord[] = []): SplitRecord[] {
    if (this.recordStart >= 0) {
      out.push({
        payload: Buffer.concat(this.record, this.recordBytes),
        start: this.recordStart,
        end: this.recordEnd,
        ...(this.recordCut ? { cut: true } : {}),
      });
      this.record = [];
      this.recordBytes = 0;
      this.recordStart = -1;
      this.recordCut = false;
    }
    return out;
  }

  private hold(bytes: Buffer): void {
    if (this.cutting) {
      this.counters.bytesSkipped += bytes.length;
      return;
    }
    const room = this.options.maxLineBytes - this.pendingBytes;
    if (bytes.length > room) {
      const keep = room > 0 ? utf8Cut(bytes, room) : 0;
      if (keep > 0) this.pending.push(Buffer.from(bytes.subarray(0, keep)));
      this.pendingBytes += keep;
      this.counters.bytesSkipped += bytes.length - keep;
      this.cutting = true;
      return;
    }
    // Copy, so a held fragment does not pin the whole read buffer.
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
  }

  private line(line: Buffer, start: number, end: number, cut: boolean, out: SplitRecord[], partial = false): void {
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1); // CRLF
    // A UTF-8 byte order mark opens the file, not its first record (Windows tools, Excel's CSV UTF-8).
    if (start === 0 && line.length >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) line = line.subarray(3);
    if (this.headersLeft > 0 && !partial) {
      this.headersLeft--;
      this.counters.headerLinesSkipped++;
      if (this.headersLeft === 0 && this.options.keepHeader) this.header = Buffer.from(line.subarray(0, MAX_HEADER_BYTES));
      return;
    }
    const isStart = this.options.isRecordStart;
    if (!isStart) {
      out.push({ payload: line, start, end, ...(cut ? { cut: true } : {}), ...(partial ? { partial: true } : {}) });
      return;
    }
    if (isStart(line) || this.recordStart < 0) {
      this.flushRecord(out);
      this.recordStart = start;
    } else {
      this.record.push(Buffer.from('\n'));
      this.recordBytes += 1;
    }
    const room = this.options.maxLineBytes - this.recordBytes;
    if (line.length > room) {
      line = line.subarray(0, room > 0 ? utf8Cut(line, room) : 0);
      if (!this.recordCut) this.counters.linesCut++;
      this.recordCut = true;
    }
    if (cut) this.recordCut = true;
    this.record.push(Buffer.from(line));
    this.recordBytes += line.length;
    this.recordEnd = end;
  }
}
