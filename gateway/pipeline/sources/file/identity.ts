// File identity: device + inode + a hash of the first bytes. Inodes are reused as soon as a file
// is deleted, so dev+ino alone would make a new file look like an old one (and resume it at the
// old offset); the fingerprint tells them apart. The fingerprint covers the first `len` bytes
// (fewer than fingerprintBytes while the file is that short; it is extended as the file grows).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface Fingerprint {
  /** sha1 (hex, 16 chars) of the first `len` bytes. */
  hash: string;
  len: number;
}

/**
 * The fingerprinted bytes themselves are kept in memory (trackers, content read before) only up to
 * this many: they recognise copies shorter than the fingerprint, and fingerprintBytes may be 64 KiB.
 */
export const MAX_HEAD_BYTES = 4096;

export function identityKey(dev: number | bigint | string, ino: number | bigint | string): string {
  return `${String(dev)}:${String(ino)}`;
}

export async function fingerprint(fh: FileHandle, len: number): Promise<Fingerprint> {
  return fingerprintOf(await readHead(fh, len));
}

/** The file's first `len` bytes (fewer when it is shorter). */
export async function readHead(fh: FileHandle, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The fingerprint of bytes already in hand (the first chunk of a file). */
export function fingerprintOf(bytes: Buffer): Fingerprint {
  return { hash: createHash('sha1').update(bytes).digest('hex').slice(0, 16), len: bytes.length };
}

/** Whether the file still starts with the fingerprinted bytes. */
export async function sameStart(fh: FileHandle, fp: Fingerprint): Promise<boolean> {
  const now = await fingerprint(fh, fp.len);
  return now.len === fp.len && now.hash === fp.hash;
}

/**
 * Whether a file still starts with the fingerprinted bytes, for a chunk read at `at` (within
 * them): a chunk read from 0 is the start itself (compared as read, nothing to race with);
 * otherwise the start is read again after the chunk (a truncation before the chunk's read shows).
 */
export async function startsAsFingerprinted(fh: FileHandle, fp: Fingerprint, chunk: Buffer, at: number): Promise<boolean> {
  if (at === 0 && chunk.length >= fp.len) return fingerprintOf(chunk.subarray(0, fp.len)).hash === fp.hash;
  return sameStart(fh, fp);
}

/** Whether the file (read again now) still starts with `chunk`, a chunk read from offset 0 (compared up to `maxBytes`). */
export async function startsWithBytes(fh: FileHandle, chunk: Buffer, maxBytes: number): Promise<boolean> {
  const len = Math.min(chunk.length, maxBytes);
  const head = await readHead(fh, len);
  return head.length === len && head.equals(chunk.subarray(0, len));
}

/**
 * The file's first `len` bytes (to fingerprint), taken while reading on at a later offset; or
 * undefined when the file no longer starts with the bytes fingerprinted so far (`fp`: it was
 * truncated, and a fingerprint of the new content would not find the old content's copy).
 */
export async function grownHead(fh: FileHandle, fp: Fingerprint, len: number): Promise<Buffer | undefined> {
  const head = await readHead(fh, len);
  if (head.length < len || fingerprintOf(head.subarray(0, fp.len)).hash !== fp.hash) return undefined;
  return head;
}
