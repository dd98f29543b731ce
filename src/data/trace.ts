// The synthetic trace generator of the DLRM paper (Algorithms 1 and 2), as the reference
// implements it (dlrm_data_pytorch.py trace_profile, trace_generate_lru,
// generate_stack_distance, read_dist_from_file / write_dist_to_file): profile the temporal
// locality of an index trace as the distribution of its LRU stack distances, then draw new
// traces with the same distribution.
//
// Stack distance of an access: 0 when the value was never accessed before (a "new"
// access); otherwise 1 + the number of distinct other values accessed since its last
// access, i.e. its depth in an LRU stack (1 = the most recent value again).
//
// A profile holds the distinct values in order of first appearance, the distinct stack
// distances in increasing order, and their cumulative distribution. Generating keeps an LRU
// stack that starts as those values in order of first appearance, all "unused". For each
// access a distance sd is drawn: sd = 0 takes the least recently used value (the next
// unused one, while any are left) and sd > 0 takes the value at depth sd; either moves to
// the top. While fewer than max(sd) new values have been issued, the draw is restricted to
// distances no larger than that count (the reference shrinks the uniform draw by the CDF at
// that point), since a deeper reuse is impossible then.
//
// The reference moves values inside a Python deque, O(U) per access; here the stack is
// a Fenwick tree over "last use" time stamps, O(log(U + T)) per access, same results.
//
// Glossary: T trace length, U distinct values (unique accesses), S distinct stack distances.

import type { DataFiles } from "./files.ts";
import { splitLines } from "./text_lines.ts";
import type { Dataset } from "./dataset.ts";
import { sampleRng, STREAM, type SampleLayout } from "./generated.ts";
import { randomLayout, randomSamples, type RandomSpec } from "./random.ts";
import type { Rng } from "../tensor/rng.ts";

export interface TraceProfile {
  /** (U,) distinct values of the trace in order of first appearance. */
  uniqueAccesses: number[];
  /** (S,) distinct stack distances, increasing; 0 (new access) first. */
  stackDistances: number[];
  /** (S,) P(stack distance ≤ stackDistances[k]); the last is 1. */
  cdf: number[];
}

/** A Fenwick (binary indexed) tree of 0/1 marks over positions 0 .. n-1. */
class MarkTree {
  readonly #tree: Int32Array; // (n + 1,) 1-based partial sums
  readonly #top: number; // highest power of two ≤ n, for the k-th search

  constructor(n: number) {
    this.#tree = new Int32Array(n + 1);
    let top = 1;
    while (top * 2 <= n) top *= 2;
    this.#top = top;
  }

  add(pos: number, delta: number): void {
    for (let i = pos + 1; i < this.#tree.length; i += i & -i) this.#tree[i] += delta;
  }

  /** Marks at positions 0 .. pos-1. */
  countBelow(pos: number): number {
    let s = 0;
    for (let i = pos; i > 0; i -= i & -i) s += this.#tree[i];
    return s;
  }

  /** The position of the k-th mark (k ≥ 1), counting from position 0. */
  kth(k: number): number {
    let pos = 0;
    for (let step = this.#top; step > 0; step >>= 1) {
      const next = pos + step;
      if (next < this.#tree.length && this.#tree[next] < k) {
        pos = next;
        k -= this.#tree[next];
      }
    }
    return pos; // 1-based index pos + 1 holds it, i.e. 0-based position pos
  }
}

function checkTrace(trace: ArrayLike<number>, op: string): void {
  for (let t = 0; t < trace.length; t++) {
    const x = trace[t];
    if (!Number.isSafeInteger(x) || x < 0)
      throw new Error(`${op}: access ${t} is ${x}, expected a non-negative integer`);
  }
}

/** (T,) the stack distance of every access of `trace` (0 for a first access). */
export function traceStackDistances(trace: ArrayLike<number>): Int32Array {
  checkTrace(trace, "traceStackDistances");
  const T = trace.length;
  const last = new Map<number, number>(); // value → time of its latest access
  const marks = new MarkTree(T); // a mark at the latest access time of every value seen
  const sd = new Int32Array(T); // (T,)
  for (let t = 0; t < T; t++) {
    const x = trace[t];
    const prev = last.get(x);
    if (prev === undefined) sd[t] = 0;
    else {
      // distinct values whose latest access is at or after prev: x itself and every other value since
      sd[t] = marks.countBelow(t) - marks.countBelow(prev);
      marks.add(prev, -1);
    }
    marks.add(t, 1);
    last.set(x, t);
  }
  return sd;
}

/** Algorithm 1: the profile of `trace` (reference trace_profile plus its histogram → CDF step). */
export function profileTrace(trace: ArrayLike<number>): TraceProfile {
  if (trace.length === 0) throw new Error("profileTrace: the trace is empty");
  const sd = traceStackDistances(trace);
  const uniqueAccesses: number[] = [];
  const seen = new Set<number>();
  for (let t = 0; t < trace.length; t++) {
    const x = trace[t];
    if (!seen.has(x)) {
      seen.add(x);
      uniqueAccesses.push(x);
    }
  }
  const counts = new Map<number, number>();
  for (const d of sd) counts.set(d, (counts.get(d) ?? 0) + 1);
  const stackDistances = [...counts.keys()].sort((a, b) => a - b);
  const cdf: number[] = [];
  let cumulative = 0;
  for (const d of stackDistances) {
    cumulative += counts.get(d) as number;
    cdf.push(cumulative / trace.length); // exact integer counts, so the last is exactly 1
  }
  return { uniqueAccesses, stackDistances, cdf };
}

/** Throws `<where>: <what is wrong>` unless `p` is a usable profile. */
export function checkProfile(p: TraceProfile, where = "trace profile"): void {
  const U = p.uniqueAccesses.length;
  const S = p.stackDistances.length;
  if (U === 0) throw new Error(`${where}: no unique accesses`);
  const distinct = new Set<number>();
  for (const [k, x] of p.uniqueAccesses.entries()) {
    if (!Number.isInteger(x) || x < 0 || x > 0x7fffffff)
      throw new Error(`${where}: unique access ${k} is ${x}, expected an integer in [0, 2^31 - 1]`);
    if (distinct.has(x)) throw new Error(`${where}: unique access ${x} appears twice`);
    distinct.add(x);
  }
  if (S === 0) throw new Error(`${where}: no stack distances`);
  if (p.cdf.length !== S) throw new Error(`${where}: ${S} stack distances but ${p.cdf.length} CDF values`);
  if (p.stackDistances[0] !== 0)
    throw new Error(`${where}: the first stack distance must be 0 (new accesses), got ${p.stackDistances[0]}`);
  for (let k = 0; k < S; k++) {
    const d = p.stackDistances[k];
    const c = p.cdf[k];
    if (!Number.isInteger(d) || (k > 0 && d <= p.stackDistances[k - 1])) {
      throw new Error(
        `${where}: stack distances must be increasing integers, got ${d} after ${p.stackDistances[k - 1]}`,
      );
    }
    if (!(c >= 0 && c <= 1 + 1e-9) || (k > 0 && c < p.cdf[k - 1])) {
      throw new Error(`${where}: CDF values must be non-decreasing in [0, 1], got ${c} at position ${k}`);
    }
  }
  const maxSd = p.stackDistances[S - 1];
  if (maxSd > U) throw new Error(`${where}: stack distance ${maxSd} exceeds the ${U} unique accesses`);
  const lastCdf = p.cdf[S - 1];
  if (Math.abs(lastCdf - 1) > 1e-6) throw new Error(`${where}: the CDF must end at 1, got ${lastCdf}`);
}

/** One stack distance for a uniform draw u in [0, 1) when `issued` new values have been
 *  issued so far (reference generate_stack_distance without padding). */
export function drawStackDistance(p: TraceProfile, issued: number, u: number): number {
  const sds = p.stackDistances;
  const cdf = p.cdf;
  const S = sds.length;
  if (issued < sds[S - 1]) {
    // Only distances ≤ issued are possible: shrink u onto their share of the CDF.
    let j = 0;
    while (j + 1 < S && sds[j + 1] <= issued) j++;
    u *= cdf[j];
  }
  // The first k with u ≤ cdf[k] (binary search); the last one when rounding left u above it.
  let lo = 0;
  let hi = S - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u <= cdf[mid]) hi = mid;
    else lo = mid + 1;
  }
  return sds[lo];
}

/** Algorithm 2's replay: the trace whose accesses have the given stack distances, starting
 *  from `uniqueAccesses` as the unused LRU stack (reference trace_generate_lru's loop). */
export function replayStackDistances(uniqueAccesses: readonly number[], sds: ArrayLike<number>): Int32Array {
  const U = uniqueAccesses.length;
  const T = sds.length;
  if (U === 0) throw new Error("replayStackDistances: no unique accesses");
  // Positions 0 .. U-1 hold the initial stack, bottom (least recent) first; access t moves
  // its value to position U + t, the new top.
  const valueAt = new Int32Array(U + T); // (U + T,)
  const marks = new MarkTree(U + T);
  for (let k = 0; k < U; k++) {
    valueAt[k] = uniqueAccesses[k];
    marks.add(k, 1);
  }
  const out = new Int32Array(T); // (T,)
  for (let t = 0; t < T; t++) {
    const sd = sds[t];
    if (!Number.isInteger(sd) || sd < 0 || sd > U) {
      throw new Error(`replayStackDistances: stack distance ${sd} at access ${t} is outside [0, ${U}]`);
    }
    // sd = 0: the bottom of the stack (the next unused value); sd > 0: depth sd from the top.
    const pos = marks.kth(sd === 0 ? 1 : U - sd + 1);
    const x = valueAt[pos];
    marks.add(pos, -1);
    marks.add(U + t, 1);
    valueAt[U + t] = x;
    out[t] = x;
  }
  return out;
}

/** A uniform double in [0, 1) with 53 random bits, so that small CDF steps keep their weight. */
function uniform53(rng: Rng): number {
  const hi = rng.nextU32() >>> 5; // 27 bits
  const lo = rng.nextU32() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** Algorithm 2: `length` accesses whose stack distances follow the profile (reference trace_generate_lru). */
export function generateTrace(p: TraceProfile, length: number, rng: Rng): Int32Array {
  checkProfile(p, "generateTrace");
  if (!Number.isInteger(length) || length < 0)
    throw new Error(`generateTrace: length must be a non-negative integer, got ${length}`);
  const sds = new Int32Array(length); // (T,)
  let issued = 0; // new accesses drawn so far
  for (let t = 0; t < length; t++) {
    const sd = drawStackDistance(p, issued, uniform53(rng));
    if (sd === 0) issued++;
    sds[t] = sd;
  }
  return replayStackDistances(p.uniqueAccesses, sds);
}

// ---------------------------------------------------------------------------------------
// The reference's profile file: three lines of ", "-separated values — unique accesses,
// stack distances, CDF — as Python writes lists (write_dist_to_file), e.g.
//   1, 2, 3, 4, 5, 6
//   0, 1, 3, 4, 5
//   0.5454545454545454, 0.6363636363636364, 0.8181818181818182, 0.9090909090909091, 1.0

/** Reads and checks a profile file (through the host's files handed in); errors name `path:line`. */
export function readProfile(path: string, files: DataFiles): TraceProfile {
  let text: string;
  try {
    text = files.readText(path, "utf8");
  } catch (e) {
    throw new Error(`trace profile: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const lines = splitLines(text);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  if (lines.length !== 3) {
    throw new Error(
      `trace profile: ${path}: expected 3 lines (unique accesses, stack distances, CDF), found ${lines.length}`,
    );
  }
  const parse = (k: number, integers: boolean): number[] =>
    lines[k].split(",").map((s, i) => {
      const text = s.trim();
      const v = text === "" ? Number.NaN : Number(text);
      if (!Number.isFinite(v) || (integers && !Number.isInteger(v))) {
        throw new Error(
          `trace profile: ${path}:${k + 1}: value ${i + 1} is not ${integers ? "an integer" : "a number"}: ${JSON.stringify(text)}`,
        );
      }
      return v;
    });
  const p = { uniqueAccesses: parse(0, true), stackDistances: parse(1, true), cdf: parse(2, false) };
  checkProfile(p, `trace profile: ${path}`);
  return p;
}

/** The text of a profile file in the reference's format (what write_dist_to_file writes). */
export function profileFileText(p: TraceProfile): string {
  checkProfile(p, "profileFileText");
  return (
    [p.uniqueAccesses.join(", "), p.stackDistances.join(", "), p.cdf.map(pythonFloat).join(", ")].join("\n") + "\n"
  );
}

/** A float as Python's repr writes it: shortest round-trip digits, "1.0" for integers,
 *  scientific notation (two-digit exponent at least) below 1e-4 and from 1e16. */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`pythonFloat: ${x} is not finite`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const fixed = String(x); // JS and Python agree on the digits in this range
  return fixed.includes(".") ? fixed : `${fixed}.0`;
}

export interface TraceSpec extends Omit<RandomSpec, "perSampleWeights"> {
  /** The profile file; "{t}" in it is replaced by the table number. */
  profile: string;
}

export interface TraceDataOptions extends TraceSpec {
  n: number;
}

/**
 * The reference's synthetic-trace data (generate_synthetic_input_batch): dense features,
 * bag sizes and 0/1 labels as for random data (randomSamples), but the ids of table t in a
 * block of samples (a training batch, an evaluation split, a --data-size set) are one trace
 * of the block's L_t accesses drawn with generateTrace from the profile (the profile of
 * table t when the path holds "{t}"), used bag after bag, each id folded into the table as
 * id mod R_t — the reference's guard for a profile whose values exceed the table. A
 * profile whose values are all below R_t keeps its exact locality; above, values that are
 * equal mod R_t share a row. Each block's traces start from the profile's initial LRU
 * stack and are keyed by (seed, stream, the block's first sample), so a block is made on
 * its own: the locality a profile describes holds within a block (the reference restarts
 * the stack at every bag).
 */
export class TraceGenerator {
  readonly spec: TraceSpec;
  /** What a sample holds (random data's shape). */
  readonly layout: SampleLayout;
  readonly #profiles: TraceProfile[]; // (F,) table t's profile

  /** Reads every table's profile now (through the host's files), so that a missing or
   *  malformed one is an error before training. */
  constructor(spec: TraceSpec, files: DataFiles) {
    this.spec = spec;
    this.layout = randomLayout(spec);
    const read = new Map<string, TraceProfile>();
    this.#profiles = spec.tableSizes.map((_, t) => {
      const path = spec.profile.split("{t}").join(String(t));
      let profile = read.get(path);
      if (profile === undefined) {
        profile = readProfile(path, files);
        read.set(path, profile);
      }
      return profile;
    });
  }

  /** Samples [first, first + n) of stream `stream`, as one block. */
  samples(stream: number, first: number, n: number): Dataset {
    const base = randomSamples(this.spec, stream, first, n);
    // The traces' own generator, apart from the samples' ones.
    const rng = sampleRng((this.spec.seed ^ 0x7ace7ace) | 0, stream, first);
    const sparse = base.sparse.map((f, t) => {
      const R = this.spec.tableSizes[t];
      const ids = generateTrace(this.#profiles[t], f.indices.length, rng.fork()); // (L_t,)
      for (let l = 0; l < ids.length; l++) ids[l] = ids[l] % R;
      return { ...f, indices: ids };
    });
    return { ...base, sparse };
  }
}

/** The first n samples of the training stream, as one block. */
export function syntheticTraceDataset(o: TraceDataOptions, files: DataFiles): Dataset {
  return new TraceGenerator(o, files).samples(STREAM.train, 0, o.n);
}
