// value = raw x scale + offset for the whole numbers a device sends (serial struct fields, Modbus
// registers), computed in decimal: the scale and offset people write are decimals (0.01, -40), and
// in binary floating point 2040 * 0.01 is 20.400000000000002, which a rule's `temperature = 20.4`
// does not match and an export carries as noise. As an integer over a power of ten the value is one
// correctly rounded division: 2040 * 1 / 100 = 20.4, the double nearest the decimal value.

/** Digits after the decimal point of a number's shortest text (1e-7: 7; 2.5: 1; 100: 0). */
function decimals(x: number): number {
  const [mantissa = '', exponent] = String(Math.abs(x)).split('e');
  const d = (mantissa.split('.')[1] ?? '').length - Number(exponent ?? 0);
  return Math.max(0, d);
}

/**
 * The function raw -> raw x scale + offset. For a whole raw value it is exact in decimal (see the top
 * of the file) while raw x scale and the offset, as integers in units of the finest decimal place,
 * stay safe integers; otherwise (a float register, a scale with more than 15 decimals, a huge raw)
 * it is the plain floating-point formula.
 */
export function decimalScaler(scale: number, offset: number): (raw: number) => number {
  const plain = (raw: number): number => raw * scale + offset;
  const places = Math.max(decimals(scale), decimals(offset));
  if (places === 0 || places > 15) return plain;
  const unit = 10 ** places;
  const scaleUnits = Math.round(scale * unit);
  const offsetUnits = Math.round(offset * unit);
  // the text of scale and offset had `places` decimals, so these are their exact values in units
  if (scaleUnits / unit !== scale || offsetUnits / unit !== offset) return plain;
  return (raw: number): number => {
    if (!Number.isInteger(raw)) return plain(raw);
    const units = raw * scaleUnits + offsetUnits;
    return Number.isSafeInteger(units) && Number.isSafeInteger(raw * scaleUnits) ? units / unit : plain(raw);
  };
}
