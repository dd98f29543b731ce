// IdMap: raw 32-bit categorical values → contiguous ids 0, 1, 2, … in order of first
// insertion, the numbering the reference gives Criteo's values (one insertion-ordered dict
// per feature, enumerated). Used by the Criteo reader and its dictionary files.

/** An open-addressing hash map from raw value (uint32) to id (0, 1, … in insertion order).
 *  Typed arrays rather than a Map: a JS Map holds at most 2^24 entries, fewer than one
 *  Terabyte feature has, and costs far more memory per entry. */
export class IdMap {
  // Slot s is the pair (slots[2s], slots[2s + 1]) = (raw value as int32, its id; -1 for an
  // empty slot): a lookup in a table larger than the cache costs one cache miss, not two.
  #slots: Int32Array; // (2 · capacity,)
  #mask: number;
  #raw: Uint32Array; // (≥ size,) raw value of each id, in id order
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < 2 * expected) capacity *= 2;
    this.#slots = emptySlots(capacity);
    this.#mask = capacity - 1;
    this.#raw = new Uint32Array(Math.max(8, expected));
  }

  /** Number of distinct raw values (ids are 0 .. size-1). */
  get size(): number {
    return this.#size;
  }

  /** The id of `raw`, or -1 when it has none. */
  get(raw: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const key = raw | 0;
    for (let s = hash32(raw) & mask; ; s = (s + 1) & mask) {
      const id = slots[2 * s + 1];
      if (id === -1 || slots[2 * s] === key) return id;
    }
  }

  /** The id of `raw`, giving it the next id if it is new. */
  add(raw: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const key = raw | 0;
    let s = hash32(raw) & mask;
    for (; ; s = (s + 1) & mask) {
      const id = slots[2 * s + 1];
      if (id === -1) break;
      if (slots[2 * s] === key) return id;
    }
    const id = this.#size;
    if (id === 0x7fffffff) throw new Error("IdMap: more than 2^31 - 1 distinct values");
    slots[2 * s] = key;
    slots[2 * s + 1] = id;
    if (id === this.#raw.length) this.#raw = grow(this.#raw, id + 1);
    this.#raw[id] = raw;
    this.#size = id + 1;
    if (4 * this.#size > slots.length) this.#rehash(slots.length); // load factor ≤ 1/2: double the slots
    return id;
  }

  /** Replaces each of values[0, n) (a raw value's uint32 bits) by its id, as add does. */
  addInPlace(values: Int32Array, n: number): void {
    for (let i = 0; i < n; i++) values[i] = this.add(values[i] >>> 0);
  }

  /** Replaces each of values[0, n) (a raw value's uint32 bits) by its id, or by `missing` when it has none. */
  getInPlace(values: Int32Array, n: number, missing: number): void {
    for (let i = 0; i < n; i++) {
      const id = this.get(values[i] >>> 0);
      values[i] = id === -1 ? missing : id;
    }
  }

  /** (size,) the raw value of each id, in id order (a copy). */
  rawValues(): Uint32Array {
    return this.#raw.slice(0, this.#size);
  }

  #rehash(capacity: number): void {
    const slots = emptySlots(capacity);
    const mask = capacity - 1;
    for (let id = 0; id < this.#size; id++) {
      const raw = this.#raw[id];
      let s = hash32(raw) & mask;
      while (slots[2 * s + 1] !== -1) s = (s + 1) & mask;
      slots[2 * s] = raw | 0;
      slots[2 * s + 1] = id;
    }
    this.#slots = slots;
    this.#mask = mask;
  }
}

/** `capacity` empty slots (id -1). */
function emptySlots(capacity: number): Int32Array {
  const slots = new Int32Array(2 * capacity);
  for (let s = 1; s < slots.length; s += 2) slots[s] = -1;
  return slots;
}

/** murmur3's 32-bit finaliser: spreads nearby raw values over the table. */
function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A copy of `a` with room for at least `atLeast` elements (capacity doubling, at least 8). */
export function grow<T extends Float32Array | Int32Array | Uint32Array>(a: T, atLeast: number): T {
  let capacity = Math.max(8, a.length);
  while (capacity < atLeast) capacity *= 2;
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}
