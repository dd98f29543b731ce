// IdMap: raw 32-bit categorical values → contiguous ids 0, 1, 2, … in order of first
// insertion, the numbering the reference gives Criteo's values (one insertion-ordered dict
// per feature, enumerated). Used by the Criteo reader and its dictionary files.

/** An open-addressing hash map from raw value (uint32) to id (0, 1, … in insertion order).
 *  Typed arrays rather than a Map: a JS Map holds at most 2^24 entries, fewer than one
 *  Terabyte feature has, and costs far more memory per entry. */
export class IdMap {
  #keys: Uint32Array; // (capacity,) raw value in each slot
  #ids: Int32Array; // (capacity,) id in each slot, -1 for an empty slot
  #mask: number;
  #raw: Uint32Array; // (≥ size,) raw value of each id, in id order
  #size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < 2 * expected) capacity *= 2;
    this.#keys = new Uint32Array(capacity);
    this.#ids = new Int32Array(capacity).fill(-1);
    this.#mask = capacity - 1;
    this.#raw = new Uint32Array(Math.max(8, expected));
  }

  /** Number of distinct raw values (ids are 0 .. size-1). */
  get size(): number {
    return this.#size;
  }

  /** The id of `raw`, or -1 when it has none. */
  get(raw: number): number {
    for (let s = hash32(raw) & this.#mask; ; s = (s + 1) & this.#mask) {
      const id = this.#ids[s];
      if (id === -1 || this.#keys[s] === raw) return id;
    }
  }

  /** The id of `raw`, giving it the next id if it is new. */
  add(raw: number): number {
    let s = hash32(raw) & this.#mask;
    for (; ; s = (s + 1) & this.#mask) {
      const id = this.#ids[s];
      if (id === -1) break;
      if (this.#keys[s] === raw) return id;
    }
    const id = this.#size;
    if (id === 0x7fffffff) throw new Error("IdMap: more than 2^31 - 1 distinct values");
    this.#keys[s] = raw;
    this.#ids[s] = id;
    if (id === this.#raw.length) this.#raw = grow(this.#raw, id + 1);
    this.#raw[id] = raw;
    this.#size = id + 1;
    if (2 * this.#size > this.#ids.length) this.#rehash(2 * this.#ids.length); // load factor ≤ 1/2
    return id;
  }

  /** (size,) the raw value of each id, in id order (a copy). */
  rawValues(): Uint32Array {
    return this.#raw.slice(0, this.#size);
  }

  #rehash(capacity: number): void {
    const keys = new Uint32Array(capacity);
    const ids = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    for (let id = 0; id < this.#size; id++) {
      const raw = this.#raw[id];
      let s = hash32(raw) & mask;
      while (ids[s] !== -1) s = (s + 1) & mask;
      keys[s] = raw;
      ids[s] = id;
    }
    this.#keys = keys;
    this.#ids = ids;
    this.#mask = mask;
  }
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
