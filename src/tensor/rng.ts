// A seeded pseudo-random generator that gives the same numbers on every run and machine.
//
// xoshiro128** (Blackman & Vigna) over 32-bit integers, seeded through splitmix32 so that
// nearby seeds give unrelated streams. Only integer ops with defined 32-bit semantics
// (Math.imul, >>>, ^) are used, so the stream does not depend on the platform. Floats are
// built from the top 24 bits (uniform) or by Box–Muller in float64 (normal).

/** What Rng.getState returns: the four xoshiro128** words and any cached second normal. */
export interface RngState {
  words: number[];
  spareNormal: number | null;
}

export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;
  /** A cached second Box–Muller sample, or NaN when there is none. */
  #spareNormal = Number.NaN;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`Rng: seed must be an integer, got ${seed}`);
    // splitmix32 turns one seed into four well-mixed state words.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform in [0, 1), with 24 random bits (exactly representable in float32). */
  uniform(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }

  /** Uniform in [lo, hi). */
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling: discard the top partial block of 2^32 that n does not divide. The
    // remainders are taken as x - floor(x / n)·n, which is exact here (x ≤ 2^32: x / n is never
    // rounded up to the next integer) and spares V8's float modulo, a C call per draw.
    const limit = Math.floor(0x100000000 / n) * n;
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return r - Math.floor(r / n) * n;
    }
  }

  /** A standard normal sample (Box–Muller, float64). */
  normal(): number {
    if (!Number.isNaN(this.#spareNormal)) {
      const z = this.#spareNormal;
      this.#spareNormal = Number.NaN;
      return z;
    }
    // u1 in (0, 1] so that log(u1) is finite.
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher–Yates shuffle of `a` in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** The generator's whole state, as plain numbers (for checkpoints: a resumed run continues the same stream). */
  getState(): RngState {
    return {
      words: [this.#s0 >>> 0, this.#s1 >>> 0, this.#s2 >>> 0, this.#s3 >>> 0],
      spareNormal: Number.isNaN(this.#spareNormal) ? null : this.#spareNormal,
    };
  }

  /** A generator that continues from a state getState() returned. */
  static fromState(state: RngState): Rng {
    const w = state.words;
    if (
      !Array.isArray(w) ||
      w.length !== 4 ||
      !w.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32) ||
      w.every((x) => x === 0)
    ) {
      throw new Error(`Rng.fromState: expected four unsigned 32-bit words, not all zero, got ${JSON.stringify(w)}`);
    }
    const rng = new Rng(0);
    rng.setWords(w[0], w[1], w[2], w[3]);
    rng.#spareNormal = state.spareNormal ?? Number.NaN;
    return rng;
  }

  /**
   * Continue from the state words w0 … w3 (32-bit, not all zero; no cached normal): what
   * fromState does, in place and with no allocation, for loops that reseed one generator per
   * item (src/data/generated.ts: one state per generated sample).
   */
  setWords(w0: number, w1: number, w2: number, w3: number): void {
    if ((w0 | w1 | w2 | w3) === 0) throw new Error("Rng.setWords: the four state words are all zero");
    // the int32 words the generator keeps
    this.#s0 = w0 | 0;
    this.#s1 = w1 | 0;
    this.#s2 = w2 | 0;
    this.#s3 = w3 | 0;
    this.#spareNormal = Number.NaN;
  }

  /** A new generator whose stream is independent of this one's continuation. */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}

/** x rotated left by k bits, as an int32 (the state words stay small integers for V8; their bits are what count). */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const globalRng = new Rng(0);

/** The generator that creation functions use when none is passed. */
export function defaultRng(): Rng {
  return globalRng;
}
