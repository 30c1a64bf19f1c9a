// A bound on the line length of a text file read with readline, which holds a whole line in memory
// however long: `gatehouse detect` given a file that is not its CSV (a binary, a minified JSON, a
// log without line breaks) read a 300 MB "header" into 1 GB of RSS, more than a Pi has. Past the
// limit the stream fails with LineTooLong, and the command says which line.
import { Transform } from 'node:stream';

export class LineTooLong extends Error {
  constructor(
    readonly line: number,
    readonly limit: number,
  ) {
    super(`line ${line} is longer than ${limit} bytes`);
  }
}

/** A pass-through that fails once a line exceeds `limit` bytes (its line break not counted). */
export function lineLimit(limit: number): Transform {
  let run = 0;
  let line = 1;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let from = 0;
      while (from < chunk.length) {
        const nl = chunk.indexOf(10, from);
        const end = nl < 0 ? chunk.length : nl;
        run += end - from;
        if (run > limit) return done(new LineTooLong(line, limit));
        if (nl < 0) break;
        run = 0;
        line++;
        from = nl + 1;
      }
      done(null, chunk);
    },
  });
}
