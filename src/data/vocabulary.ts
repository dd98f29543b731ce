// Categorical values of a user's own data → table rows: a vocabulary counted over the
// training rows (values seen fewer than min_count times, and values never seen in training,
// share one row, the last), or a hash into a fixed number of rows (no vocabulary at all).
//
// Ids follow the order of first appearance in the training rows, as Criteo's dictionary
// does, so the same files always give the same numbering.

/** Counts of each value over the training rows, in order of first appearance. */
export class VocabularyCounter {
  readonly #counts = new Map<string, number>();
  readonly #column: string;

  constructor(column: string) {
    this.#column = column;
  }

  add(value: string): void {
    const c = this.#counts.get(value);
    if (c !== undefined) this.#counts.set(value, c + 1);
    else {
      // A JS Map holds at most 2^24 entries; say so before V8 does, with the way out.
      if (this.#counts.size >= MAX_VOCABULARY)
        throw new Error(
          `column "${this.#column}": more than ${MAX_VOCABULARY} distinct values: give it "hash_buckets" in the schema instead of a vocabulary`,
        );
      this.#counts.set(value, 1);
    }
  }

  /** The vocabulary of the values seen at least `minCount` times. */
  build(minCount: number): Vocabulary {
    const values: string[] = [];
    for (const [v, c] of this.#counts) if (c >= minCount) values.push(v);
    return new Vocabulary(values);
  }
}

const MAX_VOCABULARY = (1 << 24) - 1;

/** Known values → ids 0 … K−1; everything else → K, the shared "other" row. */
export class Vocabulary {
  readonly values: readonly string[];
  readonly #ids: Map<string, number>;

  constructor(values: readonly string[]) {
    this.values = values;
    this.#ids = new Map(values.map((v, k) => [v, k]));
    if (this.#ids.size !== values.length) throw new Error("Vocabulary: the values are not distinct");
  }

  /** Rows of the table: the known values and the other row. */
  get rows(): number {
    return this.values.length + 1;
  }

  id(value: string): number {
    return this.#ids.get(value) ?? this.values.length;
  }
}

/** The row of `value` among `buckets` rows: 32-bit FNV-1a over its UTF-16 code units, modulo buckets. */
export function hashBucket(value: string, buckets: number): number {
  return hashString(value, 0x811c9dc5) % buckets;
}

/** 32-bit FNV-1a of a string's UTF-16 code units from a starting state (a seed). */
export function hashString(value: string, state: number): number {
  let h = state >>> 0;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
