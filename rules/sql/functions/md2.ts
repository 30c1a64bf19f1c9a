// MD2 (RFC 1319), for the reference's md2() (`md2("hello")` = "a9046c73e00331af68917d3804f70655"):
// OpenSSL 3 dropped MD2 from its default provider, so Node's createHash('md2') fails on every
// current build, and a rule copied from AWS IoT using md2() could not run. MD2 is small and needs
// no state between calls: a pure implementation, run only for the strings a rule hashes. (MD2 is
// broken as a cryptographic hash; it is here because rules use it as an identifier, as on AWS.)

/** RFC 1319's permutation of 0..255 built from the digits of pi (section 3.2, appendix A.3). */
const S = Uint8Array.from([
  41, 46, 67, 201, 162, 216, 124, 1, 61, 54, 84, 161, 236, 240, 6, 19, 98, 167, 5, 243, 192, 199, 115, 140, 152, 147, 43, 217, 188, 76, 130, 202, 30, 155, 87,
  60, 253, 212, 224, 22, 103, 66, 111, 24, 138, 23, 229, 18, 190, 78, 196, 214, 218, 158, 222, 73, 160, 251, 245, 142, 187, 47, 238, 122, 169, 104, 121, 145,
  21, 178, 7, 63, 148, 194, 16, 137, 11, 34, 95, 33, 128, 127, 93, 154, 90, 144, 50, 39, 53, 62, 204, 231, 191, 247, 151, 3, 255, 25, 48, 179, 72, 165, 181,
  209, 215, 94, 146, 42, 172, 86, 170, 198, 79, 184, 56, 210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116, 4, 241, 69, 157, 112, 89, 100, 113, 135, 32,
  134, 91, 207, 101, 230, 45, 168, 2, 27, 96, 37, 173, 174, 176, 185, 246, 28, 70, 97, 105, 52, 64, 126, 15, 85, 71, 163, 35, 221, 81, 175, 58, 195, 92, 249,
  206, 186, 197, 234, 38, 44, 83, 13, 110, 133, 40, 132, 9, 211, 223, 205, 244, 65, 129, 77, 82, 106, 220, 55, 200, 108, 193, 171, 250, 36, 225, 123, 8, 12,
  189, 177, 74, 120, 136, 149, 139, 227, 99, 232, 109, 233, 203, 213, 254, 59, 0, 29, 57, 242, 239, 183, 14, 102, 88, 208, 228, 166, 119, 114, 248, 235, 117,
  75, 10, 49, 68, 80, 180, 143, 237, 31, 26, 219, 153, 141, 51, 159, 17, 131, 20,
]);

/** The permutation table, for a test that checks it is one (a mistyped entry would repeat a value). */
export const MD2_S: Readonly<Uint8Array> = S;

/** The MD2 digest of `data`, as lower-case hex. */
export function md2Hex(data: Buffer): string {
  // 3.1 padding: i bytes of value i, 1 <= i <= 16, to a multiple of 16 bytes.
  const padLen = 16 - (data.length % 16);
  const n = data.length + padLen;
  const m = Buffer.alloc(n + 16); // the message, its padding, then the checksum block (from zeros)
  data.copy(m);
  m.fill(padLen, data.length, n);
  // 3.2 the checksum block, appended.
  let l = 0;
  for (let i = 0; i < n; i += 16) {
    for (let j = 0; j < 16; j++) {
      m[n + j]! ^= S[m[i + j]! ^ l]!;
      l = m[n + j]!;
    }
  }
  // 3.4 the 48-byte state, 18 rounds per block.
  const x = new Uint8Array(48);
  for (let i = 0; i < m.length; i += 16) {
    for (let j = 0; j < 16; j++) {
      x[16 + j] = m[i + j]!;
      x[32 + j] = x[16 + j]! ^ x[j]!;
    }
    let t = 0;
    for (let r = 0; r < 18; r++) {
      for (let k = 0; k < 48; k++) {
        x[k]! ^= S[t]!;
        t = x[k]!;
      }
      t = (t + r) & 0xff;
    }
  }
  return Buffer.from(x.subarray(0, 16)).toString('hex');
}
