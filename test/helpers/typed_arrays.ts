// Counting the typed arrays a piece of code allocates: every Int8Array … Float64Array made
// with its own storage (new X(n), new X(values), X.from, X.of, slice/map/filter of one made
// here), not views on an existing buffer (new X(buffer, …), subarray). For the claim that a
// steady-state training step allocates no typed-array storage at all.
//
// How: for the duration of fn the global constructors are replaced by counting subclasses.
// Code resolves `Int32Array` etc. through the global object at each use, so it constructs
// the subclass; `instanceof` still answers for arrays of the original classes.

const NAMES = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
] as const;

export interface TypedArrayCount {
  arrays: number;
  bytes: number;
  /** One line per allocation: constructor and length, for the failure message. */
  made: string[];
}

type Ctor = new (...args: unknown[]) => ArrayBufferView & { length: number };

export async function countTypedArrays(fn: () => void | Promise<void>): Promise<TypedArrayCount> {
  const count: TypedArrayCount = { arrays: 0, bytes: 0, made: [] };
  const g = globalThis as unknown as Record<string, Ctor>;
  const originals = new Map<string, Ctor>(NAMES.map((n) => [n, g[n] as Ctor]));
  for (const [name, Original] of originals) {
    const Counting = class extends Original {
      constructor(...args: unknown[]) {
        super(...args);
        const first = args[0];
        if (first instanceof ArrayBuffer || first instanceof SharedArrayBuffer) return; // a view
        count.arrays++;
        count.bytes += this.byteLength;
        if (count.made.length < 20) count.made.push(`${name}(${this.length})`);
      }
      static override [Symbol.hasInstance](x: unknown): boolean {
        return x instanceof Original;
      }
    };
    Object.defineProperty(Counting, "name", { value: name });
    g[name] = Counting as unknown as Ctor;
  }
  try {
    await fn();
  } finally {
    for (const [name, Original] of originals) g[name] = Original;
  }
  return count;
}
