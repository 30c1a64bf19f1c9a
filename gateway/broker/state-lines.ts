// The lines of a broker state file (state-journal.ts), read once, front to back, in 64 KiB chunks.
// Reading the file whole took ~5x its bytes at a start: the file as one string, its lines, the
// lines joined again for one JSON.parse, the parsed records, then the packets (20,000 retained
// messages of 1 KiB, a 28 MB snapshot: 193 MiB RSS, a crash loop under a 128 MiB MemoryMax=).
// Read once because the file may be readable only once: a FIFO in its place (the tests that hold a
// start there), or a file replaced between two reads. Each line is decoded into its own string (a
// newline byte never occurs inside a UTF-8 sequence), so a line kept does not keep its chunk.
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK_BYTES = 64 * 1024;

/** A read of the file failed after it was opened (EIO, EISDIR): not a damaged record. */
export class StateReadError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

export class StateLines {
  /** Bytes read so far (all of the file once next() returned undefined). */
  bytes = 0;
  /** Did the last line next() returned end with a newline (false: the file's last bytes)? */
  ended = false;
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;
  private end = 0;
  /** Bytes of the line being read that came in earlier chunks (copies: the chunk buffer is reused). */
  private pending: Buffer[] = [];
  private eof = false;
  private closed = false;

  private constructor(private readonly fh: FileHandle) {}

  /** The file opened for reading (rejects as open() does: ENOENT, EACCES). */
  static async open(file: string): Promise<StateLines> {
    return new StateLines(await open(file, 'r'));
  }

  /** The next line without its newline; a last line without one too; undefined at the end. */
  async next(): Promise<string | undefined> {
    for (;;) {
      // (in the whole buffer, no view made per line: a newline past `end` is a stale one)
      const at = this.pos < this.end ? this.buf.indexOf(10, this.pos) : -1;
      if (at >= 0 && at < this.end) {
        const line = this.take(at);
        this.pos = at + 1;
        this.ended = true;
        return line;
      }
      if (this.pos < this.end) this.pending.push(Buffer.from(this.buf.subarray(this.pos, this.end)));
      this.pos = this.end = 0;
      if (!(await this.fill())) {
        if (this.pending.length === 0) return undefined;
        this.ended = false;
        return this.take(0);
      }
    }
  }

  /** Everything not read yet, as one string (the whole-file JSON of earlier versions). */
  async rest(): Promise<string> {
    const parts = [...this.pending, Buffer.from(this.buf.subarray(this.pos, this.end))];
    this.pending = [];
    this.pos = this.end = 0;
    while (await this.fill()) parts.push(Buffer.from(this.buf.subarray(0, this.end)));
    this.end = 0;
    return Buffer.concat(parts).toString('utf8');
  }

  /** Closes the file (again: nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
  }

  /** The pending bytes and the chunk's bytes from pos to `to`, as a string. */
  private take(to: number): string {
    if (this.pending.length === 0) return this.buf.toString('utf8', this.pos, to);
    const line = Buffer.concat([...this.pending, this.buf.subarray(this.pos, to)]).toString('utf8');
    this.pending = [];
    return line;
  }

  /** The next chunk into buf (from 0); false at the end of the file. */
  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.fh.read(this.buf, 0, CHUNK_BYTES, null));
    } catch (err) {
      throw new StateReadError(err);
    }
    if (bytesRead === 0) {
      this.eof = true;
      return false;
    }
    this.bytes += bytesRead;
    this.end = bytesRead;
    return true;
  }
}
