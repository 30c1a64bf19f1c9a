// A float32 read from a device (a Modbus register pair, a serial struct's f32 field, an OPC UA Float)
// as the number people wrote into it. A float32 holds the binary number nearest to what the device
// meant (a meter's 231.2 V is 231.1999969482421875); widened to a double and printed it became
// 231.1999969482422: noise in every export, and a rule's `v = 231.2` that never matched. The same
// float32 is also the nearest one to the shortest decimal that rounds back to it (231.2), so that
// decimal says exactly as much as the register did, and is what the device's own display and
// numpy's float32 repr show. At most 9 significant digits tell any two float32 apart.

/**
 * The shortest decimal (as a double) that rounds to the same float32 as `x`; `x` itself when it is
 * not finite. `Math.fround(float32Value(x)) === Math.fround(x)` always holds.
 */
export function float32Value(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const f = Math.fround(x);
  // The nearest p-digit decimal is at least as near as the nearest (p-1)-digit one (which is also a
  // p-digit decimal), so "rounds back" holds from some p on: the smallest is found by bisection.
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const p = (lo + hi) >> 1;
    if (Math.fround(Number(f.toPrecision(p))) === f) hi = p;
    else lo = p + 1;
  }
  return Number(f.toPrecision(lo));
}
