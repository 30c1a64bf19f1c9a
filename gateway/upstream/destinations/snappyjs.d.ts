// The part of snappyjs (pure JS snappy block format, which ships no types) the prometheus destination
// and its tests use. Loaded with lazyPackage('snappyjs'), only when a prometheus destination is configured.
declare module 'snappyjs' {
  /** Snappy block format (not the framed stream format), as remote write's Content-Encoding: snappy. A Buffer in, a Buffer out. */
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  /** Throws on a malformed block, or one that would decompress past maxLength. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
}
