// Collectives between rank workers on shared memory: barrier, all-reduce (and its two halves,
// reduce-scatter and all-gather, for a sharded update between them) and all-to-all, built on
// SharedArrayBuffer + Atomics, with a timeout on every wait.
//
// What is shared (createCommBuffers makes it once; every rank gets the same buffers):
//
//   control  Int32 [abort, epoch_0, …, epoch_{N-1}]
//            epoch_r counts the barriers rank r has reached; abort is 0 while the run is
//            healthy, else 1 + the rank that gave up (or N + 1: the main thread).
//   counts   Int32 [2 halves][N senders][N receivers]: the element counts of an all-to-all.
//   regions  one Float32 exchange region per rank, in two halves of C + G floats each: C for
//            the round's own data, G for a deferred all-gather riding along (below).
//
// Every collective is made of rounds, and every round follows one rule:
//
//   write into my own region (half p) → barrier → read the peers' regions (half p)
//
// with p alternating from round to round. A rank writes half p again only two rounds
// later, after the barrier of the round in between; every peer passed that barrier only
// after finishing its reads of half p. So no round needs a second barrier to protect its
// data, and nothing depends on timing.
//
// Reductions use a fixed order: rank c alone sums chunk c, in float32 and in ring order
// starting from its own vector, ((x_c + x_{c+1}) + x_{c+2}) + … (ranks mod N), and every
// rank copies that result, whenever the others arrive. All ranks end with bit-identical
// results. (With 2 ranks this is x_0 + x_1 rounded once, as one thread would add them.)
// reduceScatter stops after the sum; a rank may then update its chunk (an elementwise
// optimizer step gives the same bits whichever rank computes it) and allGather hands out
// the updated chunks: the result is bit for bit that of allReduce and a full update on
// every rank, with 1/N of the update's work per rank.
//
// A deferred all-gather (deferAllGather) has no round of its own: it rides along with the
// next round of any collective, its chunk written beside that round's data (the last G floats
// of the half) before the barrier and the peers' chunks copied in after it, so it costs no
// barrier. Its data must stay as it is until then; flushAllGather runs it on its own when
// nothing else will come first (before a checkpoint is read from the arrays). The hybrid step
// defers the all-gather of the updated MLP parameters to the next step's first all-to-all, which
// the MLPs are only read after: three meetings per step instead of four.
//
// Failure: a wait that outlasts the timeout throws a CollectiveError naming this rank, the
// phase and the peer it waited for; abort() (by a failing rank) or abortAll() (by the main
// thread) wakes every waiting rank, whose wait then throws a CollectiveError "aborted".
//
// Glossary: N ranks, r this rank, q a peer, n elements of an all-reduce, C floats in one
// half of an exchange region for a round's data, G for a deferred all-gather.

import { kernels } from "../kernels/index.ts";

const ABORT = 0;
const EPOCH = 1;
const MAIN_THREAD = -1;

export interface CommBuffers {
  /** N ranks. */
  readonly ranks: number;
  /** C: floats in one half of each rank's exchange region for a round's own data. */
  readonly capacity: number;
  /** G: floats beside them for a deferred all-gather (deferAllGather), 0 for none. */
  readonly gatherCapacity: number;
  readonly control: SharedArrayBuffer;
  readonly counts: SharedArrayBuffer;
  readonly regions: readonly SharedArrayBuffer[];
}

/**
 * The shared memory of the collectives of N ranks, each exchanging up to `capacity` floats per
 * round, and up to `gatherCapacity` more of a deferred all-gather riding along.
 */
export function createCommBuffers(ranks: number, capacity: number, gatherCapacity = 0): CommBuffers {
  if (!Number.isInteger(ranks) || ranks < 1)
    throw new Error(`createCommBuffers: ranks must be a positive integer, got ${ranks}`);
  if (!Number.isInteger(capacity) || capacity < 0)
    throw new Error(`createCommBuffers: capacity must be a non-negative integer, got ${capacity}`);
  if (!Number.isInteger(gatherCapacity) || gatherCapacity < 0)
    throw new Error(`createCommBuffers: gatherCapacity must be a non-negative integer, got ${gatherCapacity}`);
  return {
    ranks,
    capacity,
    gatherCapacity,
    control: new SharedArrayBuffer(4 * (1 + ranks)),
    counts: new SharedArrayBuffer(4 * 2 * ranks * ranks),
    regions: Array.from({ length: ranks }, () => new SharedArrayBuffer(4 * 2 * Math.max(capacity + gatherCapacity, 1))),
  };
}

export type CollectiveFailure = "timeout" | "aborted" | "usage";

/** A collective that could not complete: why, on which rank, in which phase, waiting for whom. */
export class CollectiveError extends Error {
  readonly rank: number;
  readonly phase: string;
  readonly reason: CollectiveFailure;
  /** The peer that did not arrive (timeout), or the rank that aborted (-1: the main thread). */
  readonly peer: number | null;
  constructor(rank: number, phase: string, reason: CollectiveFailure, peer: number | null, message: string) {
    super(`rank ${rank}: ${phase}: ${message}`);
    this.name = "CollectiveError";
    this.rank = rank;
    this.phase = phase;
    this.reason = reason;
    this.peer = peer;
  }
}

/** The rank that aborted the run (-1 for the main thread), or null while nobody has. */
export function abortedBy(buffers: CommBuffers): number | null {
  const v = Atomics.load(new Int32Array(buffers.control), ABORT);
  if (v === 0) return null;
  return v === buffers.ranks + 1 ? MAIN_THREAD : v - 1;
}

/** Abort from the main thread: every rank waiting in a collective wakes up and throws. */
export function abortAll(buffers: CommBuffers): void {
  raiseAbort(new Int32Array(buffers.control), buffers.ranks, buffers.ranks + 1);
}

function raiseAbort(control: Int32Array, N: number, code: number): void {
  Atomics.compareExchange(control, ABORT, 0, code); // the first to abort is remembered
  for (let q = 0; q < N; q++) Atomics.notify(control, EPOCH + q);
}

/** The [start, end) of chunk c when n elements are cut into N nearly equal chunks. */
export function chunkBounds(n: number, N: number, c: number): [number, number] {
  return [Math.floor((c * n) / N), Math.floor(((c + 1) * n) / N)];
}

export interface CommunicatorOptions {
  /** Longest wait for a peer, in milliseconds. */
  timeoutMs: number;
}

/** One rank's end of the collectives. Every rank must call the same collectives in the same order. */
export class Communicator {
  readonly rank: number;
  readonly size: number;
  readonly capacity: number;
  readonly gatherCapacity: number;
  /** Longest wait for a peer (ms); may be changed between collectives. */
  timeoutMs: number;
  readonly #control: Int32Array;
  readonly #counts: Int32Array; // (2, N, N)
  readonly #regions: Float32Array[]; // N × (2·C)
  /** Barriers this rank has passed. */
  #epoch = 0;
  /** Rounds so far; the parity picks the half of the regions. */
  #round = 0;
  /** The deferred all-gather, until a round takes it along: its layers, and the phase it was deferred in. */
  #deferred: {
    layers: readonly (readonly Float32Array[])[];
    phase: string;
    peers: readonly (readonly (readonly Float32Array[])[])[] | null;
  } | null = null;

  constructor(buffers: CommBuffers, rank: number, opts: CommunicatorOptions) {
    const N = buffers.ranks;
    if (!Number.isInteger(rank) || rank < 0 || rank >= N)
      throw new Error(`Communicator: rank ${rank} is out of range for ${N} ranks`);
    if (!(opts.timeoutMs > 0)) throw new Error(`Communicator: timeoutMs must be positive, got ${opts.timeoutMs}`);
    this.rank = rank;
    this.size = N;
    this.capacity = buffers.capacity;
    this.gatherCapacity = buffers.gatherCapacity;
    this.timeoutMs = opts.timeoutMs;
    this.#control = new Int32Array(buffers.control);
    this.#counts = new Int32Array(buffers.counts);
    this.#regions = buffers.regions.map((b) => new Float32Array(b));
    this.#epoch = Atomics.load(this.#control, EPOCH + rank);
  }

  /** Wake every peer waiting in a collective; their waits (and later ones) throw "aborted". */
  abort(): void {
    raiseAbort(this.#control, this.size, this.rank + 1);
  }

  /** Returns once every rank has reached the same barrier. */
  barrier(phase: string): void {
    this.#checkAbort(phase);
    if (this.size === 1) return;
    const ctl = this.#control;
    const target = ++this.#epoch;
    Atomics.store(ctl, EPOCH + this.rank, target);
    Atomics.notify(ctl, EPOCH + this.rank);
    const deadline = performance.now() + this.timeoutMs;
    for (let q = 0; q < this.size; q++) {
      if (q === this.rank) continue;
      for (;;) {
        const seen = Atomics.load(ctl, EPOCH + q);
        if (((seen - target) | 0) >= 0) break; // q is at this barrier or past it (wrap-safe)
        this.#checkAbort(phase); // only a barrier that cannot complete fails on an abort
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new CollectiveError(
            this.rank,
            phase,
            "timeout",
            q,
            `timed out after ${this.timeoutMs} ms waiting for rank ${q}`,
          );
        }
        Atomics.wait(ctl, EPOCH + q, seen, left);
      }
    }
  }

  /**
   * data (n,) ← Σ_q data_q (n,), the same bits on every rank: reduce-scatter (rank c sums
   * chunk c over all ranks, in ring order from c) then all-gather (everyone copies every
   * chunk). Vectors longer than the capacity go in pieces of C floats. data is best resident
   * in the wasm memory (src/tensor/storage.ts): the sum then runs on it in place.
   */
  allReduce(data: Float32Array, phase: string): void {
    this.#checkAbort(phase);
    if (this.size === 1) return;
    const C = this.capacity;
    if (C === 0 && data.length > 0)
      throw new CollectiveError(
        this.rank,
        phase,
        "usage",
        null,
        `all-reduce of ${data.length} floats with a capacity of 0`,
      );
    for (let off = 0; off < data.length; off += C) {
      const x = data.subarray(off, Math.min(data.length, off + C));
      this.#reduceScatterPiece(x, phase);
      this.#allGatherPiece([[x]], phase);
    }
  }

  /**
   * The first half of allReduce: data's chunk of this rank (chunkBounds(n, N, r), returned as
   * [lo, hi)) ← Σ_q data_q over that chunk, summed as allReduce sums it; the rest of data is
   * left as it was. What a rank then does with its chunk (a sharded optimizer update) and
   * allGather complete an all-reduce. n must fit in one exchange (n ≤ C).
   */
  reduceScatter(data: Float32Array, phase: string): [number, number] {
    this.#checkAbort(phase);
    this.#checkFits(data.length, 1, phase);
    if (this.size === 1) return [0, data.length];
    this.#reduceScatterPiece(data, phase);
    return chunkBounds(data.length, this.size, this.rank);
  }

  /**
   * Every rank's chunk of n-element vectors to every rank: layers are L vectors cut alike
   * (chunk c of each is chunkBounds(n, N, c)); this rank's chunks of every layer go to the
   * peers, and the peers' chunks of every layer are copied into this rank's. A layer may be
   * one array, or several back to back (a model's parameters, each its own array: the layer
   * is their concatenation). L·n must fit in one exchange (≤ C).
   */
  allGather(layers: readonly (readonly Float32Array[])[], phase: string): void {
    this.#checkAbort(phase);
    const n = this.#checkLayers(layers, phase);
    this.#checkFits(n, layers.length, phase);
    if (this.size === 1) return;
    this.#allGatherPiece(layers, phase);
  }

  /**
   * allGather(layers) without a round of its own: done in the next round of any collective
   * (this rank's chunks published with that round's data, the peers' copied in after its
   * barrier), or by flushAllGather. Until then the layers must not change, and nothing may
   * read the peers' chunks of them. Every rank defers the same all-gather at the same point.
   */
  deferAllGather(
    layers: readonly (readonly Float32Array[])[],
    phase: string,
    peers?: readonly (readonly (readonly Float32Array[])[])[],
  ): void {
    this.#checkAbort(phase);
    if (this.#deferred !== null)
      throw new CollectiveError(
        this.rank,
        phase,
        "usage",
        null,
        `an all-gather is already deferred (${this.#deferred.phase})`,
      );
    const n = this.#checkLayers(layers, phase);
    if (this.size === 1) return; // nothing to gather, no room needed
    if (peers !== undefined) {
      this.#checkPeers(peers, n, phase);
      this.#deferred = { layers, phase, peers };
      return;
    }
    if (n * layers.length > this.gatherCapacity)
      throw new CollectiveError(
        this.rank,
        phase,
        "usage",
        null,
        `${layers.length} × ${n} floats do not fit beside a round's data (${this.gatherCapacity} floats)`,
      );
    this.#deferred = { layers, phase, peers: null };
  }

  /** Complete a deferred all-gather now, in a round of its own (nothing when none is deferred). */
  flushAllGather(phase: string): void {
    const d = this.#deferred;
    if (d === null) return;
    this.#checkAbort(phase);
    this.#meet(this.#nextHalf(), `${phase}: ${d.phase}`); // a round with no data of its own
  }

  /** Whether an all-gather waits for a round to take it along. */
  get gatherDeferred(): boolean {
    return this.#deferred !== null;
  }

  /** n, the floats of each layer (all alike). */
  #checkLayers(layers: readonly (readonly Float32Array[])[], phase: string): number {
    const n = layers.length === 0 ? 0 : segmentsLength(layers[0]);
    for (const [l, layer] of layers.entries()) {
      const m = segmentsLength(layer);
      if (m !== n)
        throw new CollectiveError(
          this.rank,
          phase,
          "usage",
          null,
          `all-gather layer ${l} has ${m} floats, layer 0 ${n}`,
        );
    }
    return n;
  }

  /**
   * The meeting of a round whose data this rank has written into half h: a deferred
   * all-gather's chunks written beside it, the barrier, the peers' chunks copied in.
   */
  #meet(h: number, phase: string): void {
    const d = this.#deferred;
    if (d === null) {
      this.barrier(phase);
      return;
    }
    this.#deferred = null;
    const N = this.size;
    const n = segmentsLength(d.layers[0] ?? []);
    const [lo, hi] = chunkBounds(n, N, this.rank);
    if (d.peers === null) {
      const mine = this.#gatherPart(this.#regions[this.rank], h);
      d.layers.forEach((layer, l) => copySegments(layer, lo, hi, mine, l * n, "out"));
    }
    this.barrier(phase);
    for (let c = 0; c < N; c++) {
      const [a, b] = chunkBounds(n, N, c);
      if (c === this.rank || b <= a) continue;
      if (d.peers === null) {
        const theirs = this.#gatherPart(this.#regions[c], h);
        d.layers.forEach((layer, l) => copySegments(layer, a, b, theirs, l * n, "in"));
      } else {
        // Straight from peer c's own arrays: its chunk is final (updated before this round),
        // and it changes them again only after the next round's barrier, which it passes
        // only once this rank has too.
        const theirs = d.peers[c];
        d.layers.forEach((layer, l) => copyBetween(theirs[l], layer, a, b));
      }
    }
  }

  /** Peers' layers must be cut as this rank's: N of them, each L layers of n floats. */
  #checkPeers(peers: readonly (readonly (readonly Float32Array[])[])[], n: number, phase: string): void {
    const bad = peers.length !== this.size || peers.some((p) => p.some((layer) => segmentsLength(layer) !== n));
    if (bad)
      throw new CollectiveError(
        this.rank,
        phase,
        "usage",
        null,
        `the peers' arrays are not ${this.size} sets of layers of ${n} floats`,
      );
  }

  /**
   * reduceScatter, with each peer's vector read where it is (peers[q]: rank q's data as this
   * thread views it, in shared memory) instead of copied into the exchange regions first.
   * Every rank calls it after writing its vector; the peers' vectors must not change until
   * the next round's barrier (a rank reads only chunk r of them; its own chunk r it sums in
   * place).
   */
  reduceScatterFrom(data: Float32Array, peers: readonly Float32Array[], phase: string): [number, number] {
    this.#checkAbort(phase);
    const N = this.size;
    const r = this.rank;
    const n = data.length;
    if (N === 1) return [0, n];
    if (peers.length !== N || peers.some((p) => p.length !== n))
      throw new CollectiveError(r, phase, "usage", null, `the peers' vectors are not ${N} vectors of ${n} floats`);
    this.#meet(this.#nextHalf(), phase); // every vector written (and a deferred all-gather along)
    const [lo, hi] = chunkBounds(n, N, r);
    for (let k = 1; k < N && hi > lo; k++) kernels.add(hi - lo, peers[(r + k) % N], lo, data, lo);
    return [lo, hi];
  }

  #checkFits(n: number, layers: number, phase: string): void {
    if (n * layers > this.capacity)
      throw new CollectiveError(
        this.rank,
        phase,
        "usage",
        null,
        `${layers} × ${n} floats do not fit in one exchange of ${this.capacity}`,
      );
  }

  /** x's chunk r ← Σ_q x_q over it, in ring order from r (x.length ≤ C). */
  #reduceScatterPiece(x: Float32Array, phase: string): void {
    const N = this.size;
    const r = this.rank;
    const n = x.length;
    // One round: publish the chunks the peers reduce (chunk c goes to rank c), each at its place.
    const h = this.#nextHalf();
    const mine = this.#own(h);
    for (let c = 0; c < N; c++) {
      const [a, b] = chunkBounds(n, N, c);
      if (c !== r && b > a) mine.set(x.subarray(a, b), a);
    }
    this.#meet(h, phase);
    // Reduce my chunk in place, adding the peers' in ring order r+1, r+2, … (a wasm kernel:
    // the add runs at memory speed, where a JavaScript loop takes ~2 ns per element).
    const [lo, hi] = chunkBounds(n, N, r);
    for (let k = 1; k < N && hi > lo; k++) {
      const peer = this.#half(this.#regions[(r + k) % N], h);
      kernels.add(hi - lo, peer, lo, x, lo);
    }
  }

  /** One round: publish my chunk of every layer (layer l at l·n); take every peer's (L·n ≤ C). */
  #allGatherPiece(layers: readonly (readonly Float32Array[])[], phase: string): void {
    const N = this.size;
    const r = this.rank;
    const n = layers.length === 0 ? 0 : segmentsLength(layers[0]);
    const h = this.#nextHalf();
    const [lo, hi] = chunkBounds(n, N, r);
    const mine = this.#own(h);
    layers.forEach((layer, l) => copySegments(layer, lo, hi, mine, l * n, "out"));
    this.#meet(h, phase);
    for (let c = 0; c < N; c++) {
      const [a, b] = chunkBounds(n, N, c);
      if (c === r || b <= a) continue;
      const theirs = this.#half(this.#regions[c], h);
      layers.forEach((layer, l) => copySegments(layer, a, b, theirs, l * n, "in"));
    }
  }

  /**
   * All-to-all with uneven splits: rank r sends send[sdispl_r[q] .. + sendCounts[q]) to
   * rank q, where the blocks lie back to back in rank order; it receives the block of
   * every q into recv, back to back in rank order, recvCounts[q] floats from q. Each
   * receiver checks that its recvCounts match what the senders announced.
   */
  allToAll(
    send: Float32Array,
    sendCounts: readonly number[],
    recv: Float32Array,
    recvCounts: readonly number[],
    phase: string,
  ): void {
    const N = this.size;
    const r = this.rank;
    this.#checkAbort(phase);
    const usage = (msg: string): CollectiveError => new CollectiveError(r, phase, "usage", null, msg);
    if (sendCounts.length !== N || recvCounts.length !== N) {
      throw usage(
        `all-to-all needs one send and one receive count per rank (${N}), got ${sendCounts.length} and ${recvCounts.length}`,
      );
    }
    const sendTotal = sum(sendCounts, (c, q) => {
      if (!Number.isInteger(c) || c < 0)
        throw usage(`send count for rank ${q} must be a non-negative integer, got ${c}`);
    });
    const recvTotal = sum(recvCounts, (c, q) => {
      if (!Number.isInteger(c) || c < 0)
        throw usage(`receive count from rank ${q} must be a non-negative integer, got ${c}`);
    });
    if (sendTotal !== send.length)
      throw usage(`send counts add up to ${sendTotal} but the send buffer holds ${send.length} floats`);
    if (recvTotal !== recv.length)
      throw usage(`receive counts add up to ${recvTotal} but the receive buffer holds ${recv.length} floats`);
    if (sendTotal > this.capacity)
      throw usage(`sends ${sendTotal} floats, more than the exchange capacity of ${this.capacity}`);

    const h = this.#nextHalf();
    this.#own(h).set(send);
    const counts = this.#counts;
    for (let q = 0; q < N; q++) Atomics.store(counts, (h * N + r) * N + q, sendCounts[q]);
    this.#meet(h, phase);
    let at = 0;
    for (let q = 0; q < N; q++) {
      // Where q put my block: after its blocks for ranks 0 .. r-1.
      let displ = 0;
      for (let j = 0; j < r; j++) displ += Atomics.load(counts, (h * N + q) * N + j);
      const count = Atomics.load(counts, (h * N + q) * N + r);
      if (count !== recvCounts[q]) {
        throw usage(`expects ${recvCounts[q]} floats from rank ${q}, which sends ${count}`);
      }
      recv.set(this.#half(this.#regions[q], h).subarray(displ, displ + count), at);
      at += count;
    }
  }

  #nextHalf(): number {
    return this.#round++ & 1;
  }

  #own(h: number): Float32Array {
    return this.#half(this.#regions[this.rank], h);
  }

  #half(region: Float32Array, h: number): Float32Array {
    const C = this.capacity;
    const S = C + this.gatherCapacity;
    return region.subarray(h * S, h * S + C);
  }

  /** The part of half h of a region that a deferred all-gather rides in. */
  #gatherPart(region: Float32Array, h: number): Float32Array {
    const S = this.capacity + this.gatherCapacity;
    return region.subarray(h * S + this.capacity, (h + 1) * S);
  }

  #checkAbort(phase: string): void {
    const v = Atomics.load(this.#control, ABORT);
    if (v === 0) return;
    const by = v === this.size + 1 ? MAIN_THREAD : v - 1;
    const who = by === MAIN_THREAD ? "the main thread stopped the run" : `rank ${by} failed`;
    throw new CollectiveError(this.rank, phase, "aborted", by, `aborted: ${who}`);
  }
}

/** Elements [a, b) of the concatenation of `from` into the same elements of `to` (cut alike or not). */
function copyBetween(from: readonly Float32Array[], to: readonly Float32Array[], a: number, b: number): void {
  let i = 0; // segment of `from`
  let fStart = 0;
  let tStart = 0;
  for (const t of to) {
    const tEnd = tStart + t.length;
    let x = Math.max(a, tStart);
    const xEnd = Math.min(b, tEnd);
    while (x < xEnd) {
      while (fStart + from[i].length <= x) fStart += from[i++].length;
      const m = Math.min(xEnd, fStart + from[i].length);
      t.set(from[i].subarray(x - fStart, m - fStart), x - tStart);
      x = m;
    }
    tStart = tEnd;
    if (tStart >= b) break;
  }
}

/** Elements of arrays laid back to back. */
function segmentsLength(segments: readonly Float32Array[]): number {
  let n = 0;
  for (const s of segments) n += s.length;
  return n;
}

/**
 * Elements [a, b) of the concatenation of segments, to region[base + a, base + b) ("out") or
 * from it ("in").
 */
function copySegments(
  segments: readonly Float32Array[],
  a: number,
  b: number,
  region: Float32Array,
  base: number,
  way: "in" | "out",
): void {
  let start = 0;
  for (const s of segments) {
    const end = start + s.length;
    const from = Math.max(a, start);
    const to = Math.min(b, end);
    if (to > from) {
      if (way === "out") region.set(s.subarray(from - start, to - start), base + from);
      else s.set(region.subarray(base + from, base + to), from - start);
    }
    start = end;
    if (start >= b) break;
  }
}

function sum(xs: readonly number[], check: (x: number, i: number) => void): number {
  let s = 0;
  xs.forEach((x, i) => {
    check(x, i);
    s += x;
  });
  return s;
}
