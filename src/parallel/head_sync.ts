// The replicated head (bot_l and top_l, the same on every rank) kept the same after each
// step, with each rank doing 1/N of its update and keeping 1/N of its optimizer state live
// (ZeRO stage 1, as PyTorch's ZeroRedundancyOptimizer):
//   backward     writes the head's gradients into one flat array (GradBucket: no copy, no
//                zero fill where a GEMM writes a gradient whole)
//   reduce       reduce-scatter: rank r sums chunk r of that array over the ranks
//   update       the optimizer updates chunk r of the head's parameters and of their
//                element-wise state (step(share)), and nothing else of the head
//   gather       all-gather: every rank copies the other chunks of the parameters, deferred
//                to the next step's first all-to-all (collectives.ts deferAllGather: no
//                meeting of its own), before which nothing reads the MLPs; flushed before a
//                checkpoint is written
// Every step of every optimizer is elementwise, so the parameters have the bits of an
// all-reduce followed by the whole update on every rank (collectives.ts): golden parity holds,
// and the update costs each rank 1/N of what it did. The optimizer state (Adagrad's sums,
// Adam's moments) of chunk r is only ever read by rank r's updates, so it stays there; it is
// gathered only before a checkpoint is written (gatherState), where rank 0 saves it whole —
// the same bits as the whole update would have left everywhere, so resumes are exact.
//
// The gradients and parameters live in each rank's wasm memory, which is shared: once every
// rank knows where the others' are (usePeers, at the start of a run), the reduce-scatter adds
// the peers' chunk r straight from their gradient arrays and the all-gather copies their chunks
// straight from their parameters, instead of each rank first copying what it sends into its
// exchange region (two of the five passes over P floats per step, ~1 MB each).
//
// Glossary: N ranks, r this rank, P the head's elements, H its parameters.

import { GradBucket } from "../autograd/grad.ts";
import { stateArray, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { DenseShare, Optimizer } from "../optim/optimizer.ts";
import { allocResident } from "../tensor/storage.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { chunkBounds, type Communicator } from "./collectives.ts";
import type { HeadArrays, SharedArray } from "./protocol.ts";

export class HeadSync {
  /** This rank's part of each head parameter (optimizer indices 0 … H-1): what its update writes. */
  readonly share: DenseShare;
  readonly #grads: GradBucket;
  readonly #params: readonly Tensor[];
  /** The head's parameters, what the all-gather of each step hands out. */
  readonly #data: Float32Array[];
  /** Each element-wise optimizer state of theirs (none for SGD), gathered before a save. */
  readonly #state: Float32Array[][];
  readonly #comm: Communicator;
  /** Per rank, its gradient array and parameters as this thread views them (usePeers), or null: exchanged by copies. */
  #peers: { grads: Float32Array[]; params: Float32Array[][] } | null = null;

  /** headParams: the optimizer's first H parameters, in its order. */
  constructor(
    headParams: readonly (readonly [string, Tensor])[],
    optimizer: Optimizer,
    spec: OptimizerSpec,
    comm: Communicator,
  ) {
    this.#comm = comm;
    this.#params = headParams.map(([, p]) => p);
    this.#params.forEach((p, i) => {
      if (optimizer.params[i] !== p)
        throw new Error(`HeadSync: head parameter ${headParams[i]?.[0]} is not the optimizer's parameter ${i}`);
    });
    const P = this.#params.reduce((a, p) => a + p.size, 0);
    this.#grads = new GradBucket(this.#params, allocResident(P)); // resident: the sum runs on it in place
    const [lo, hi] = chunkBounds(P, comm.size, comm.rank);
    const share = new Map<number, readonly [number, number]>();
    let at = 0;
    this.#params.forEach((p, i) => {
      const from = Math.min(Math.max(lo - at, 0), p.size);
      const to = Math.max(Math.min(hi - at, p.size), from);
      share.set(i, [from, to]);
      at += p.size;
    });
    this.share = share;
    this.#data = this.#params.map((p) => p.data as Float32Array);
    this.#state = stateTensors(spec, [P], false).map((s) =>
      this.#params.map((_, i) => stateArray(optimizer, i, s.key) as Float32Array),
    );
  }

  /** Where this rank's gradient array and parameters are, when they are in shared memory (its wasm memory). */
  arrays(): HeadArrays {
    const shared = (a: Float32Array): SharedArray | null =>
      a.buffer instanceof SharedArrayBuffer ? { buffer: a.buffer, byteOffset: a.byteOffset, length: a.length } : null;
    const grads = shared(this.#grads.flat);
    const params = this.#data.map(shared);
    if (grads === null || params.some((p) => p === null)) return null;
    return { grads, params: params as SharedArray[] };
  }

  /**
   * Every rank's arrays(), by rank: when all are shared, the reduce-scatter reads the peers'
   * gradients and the all-gather their parameters where they are (their wasm memories), with
   * no copy into the exchange regions first; otherwise nothing changes.
   */
  usePeers(heads: readonly HeadArrays[]): void {
    if (heads.length !== this.#comm.size || heads.some((h) => h === null)) return;
    const view = (a: SharedArray): Float32Array => new Float32Array(a.buffer, a.byteOffset, a.length);
    const all = heads as { grads: SharedArray; params: SharedArray[] }[];
    const P = this.#grads.flat.length;
    all.forEach((h, q) => {
      if (h.grads.length !== P || h.params.length !== this.#data.length)
        throw new Error(
          `HeadSync: rank ${q}'s head has ${h.grads.length} gradients in ${h.params.length} parameters, this rank's ${P} in ${this.#data.length}`,
        );
    });
    this.#peers = { grads: all.map((h) => view(h.grads)), params: all.map((h) => h.params.map(view)) };
  }

  /** After backward: chunk r of the head's gradients ← their sum over the ranks. */
  reduceGradients(step: number): void {
    this.#grads.seal();
    const phase = `reduce-scatter of the MLP gradients (step ${step})`;
    if (this.#peers === null) this.#comm.reduceScatter(this.#grads.flat, phase);
    else this.#comm.reduceScatterFrom(this.#grads.flat, this.#peers.grads, phase);
  }

  /**
   * After the update of chunk r (optimizer.step(share)): every rank's chunk of the parameters
   * to every rank, with the next round of the collectives (the next step's or prediction's
   * all-to-all forward, before the MLPs run) or at flush().
   */
  gatherParameters(step: number): void {
    const phase = `all-gather of the MLP parameters (step ${step})`;
    this.#comm.deferAllGather(
      [this.#data],
      phase,
      this.#peers?.params.map((p) => [p]),
    );
    for (const p of this.#params) p.markModified();
  }

  /** The parameters whole now (a gather still deferred is done): before they are read outside a step. */
  flush(): void {
    this.#comm.flushAllGather("before a save");
  }

  /** Before a checkpoint is written (every rank calls it): every rank's chunk of the optimizer state to every rank. */
  gatherState(): void {
    for (const layer of this.#state) this.#comm.allGather([layer], "all-gather of the MLP optimizer state (save)");
  }
}
