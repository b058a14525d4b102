// Kubernetes resource quantities ("10Gi", "1.5G", "500m", "1e3"): parsed exactly (as a fraction of
// big integers) so claims and volumes compare like resource.Quantity.Cmp, and written back in the
// canonical form the real API server serializes (`1024Mi` comes back as `1Gi`, `1000` as `1k`).

export interface Quantity {
  /** value = num / den, den a power of ten. */
  num: bigint;
  den: bigint;
  format: 'BinarySI' | 'DecimalSI' | 'DecimalExponent';
}

const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

export function parseQuantity(text: string): Quantity | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign = '', digits = '', suffix = ''] = match;
  const [whole = '', fraction = ''] = digits.split('.');
  let num = BigInt(`${whole}${fraction}` || '0') * (sign === '-' ? -1n : 1n);
  let den = 10n ** BigInt(fraction.length);
  let format: Quantity['format'] = 'DecimalSI';
  if (suffix in BINARY) {
    num *= 1024n ** BigInt(BINARY[suffix] ?? 0);
    format = 'BinarySI';
  } else {
    const exponent = suffix in DECIMAL ? (DECIMAL[suffix] ?? 0) : Number(suffix.slice(1));
    if (!(suffix in DECIMAL)) format = 'DecimalExponent';
    if (exponent >= 0) num *= 10n ** BigInt(exponent);
    else den *= 10n ** BigInt(-exponent);
  }
  return { num, den, format };
}

/** -1, 0 or 1, like resource.Quantity.Cmp. */
function compareQuantities(a: Quantity, b: Quantity): number {
  const left = a.num * b.den;
  const right = b.num * a.den;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Compares two quantity strings; an unparsable one counts as zero. */
export function compareQuantityText(a: string | undefined, b: string | undefined): number {
  const zero: Quantity = { num: 0n, den: 1n, format: 'DecimalSI' };
  return compareQuantities(parseQuantity(a ?? '0') ?? zero, parseQuantity(b ?? '0') ?? zero);
}

/** The real server's serialization: the largest suffix that keeps the value an integer. */
export function canonicalQuantity(text: string): string {
  const quantity = parseQuantity(text);
  if (!quantity) return text;
  const { num, den } = quantity;
  if (quantity.format === 'BinarySI' && num % den === 0n) {
    const bytes = num / den;
    if (bytes === 0n) return '0';
    const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
    let value = bytes;
    let index = 0;
    while (index < suffixes.length - 1 && value % 1024n === 0n) {
      value /= 1024n;
      index += 1;
    }
    // A binary quantity that is not a multiple of 1Ki is written in decimal, as apimachinery does.
    if (index > 0) return `${value}${suffixes[index]}`;
  }
  return decimalCanonical(num, den, quantity.format === 'DecimalExponent');
}

function decimalCanonical(num: bigint, den: bigint, exponentForm: boolean): string {
  if (num === 0n) return '0';
  // Scale to an integer count of nano-units (the real server rounds up beyond nano).
  let nanos = (num * 1_000_000_000n) / den;
  if ((num * 1_000_000_000n) % den !== 0n) nanos += num > 0n ? 1n : 0n;
  let exponent = -9;
  while (exponent < 18 && nanos % 1000n === 0n) {
    nanos /= 1000n;
    exponent += 3;
  }
  if (exponentForm) return exponent === 0 ? `${nanos}` : `${nanos}e${exponent}`;
  const suffix = Object.entries(DECIMAL).find(([, power]) => power === exponent)?.[0] ?? '';
  return `${nanos}${suffix}`;
}
