// One rank of the hybrid-parallel DLRM (the DLRM paper's scheme, see docs/parallelism.md):
// model parallel for the embedding tables, data parallel for the rest.
//
// A rank holds, for the whole run, its shards of the embedding tables (whole pieces or row
// ranges, by the sharding plan) and their optimizer state, which nobody else ever has: it
// makes them itself, in its own wasm memory or in files (src/parallel/rank_shards.ts), from
// the model's counter-based streams (src/dlrm/init.ts: the same values whatever the worker
// count or row split) or read from a checkpoint at their byte offsets (rank_holdings.ts; file
// access comes from the host, RankFiles, so that this module also loads in a browser's rank
// Worker); and a replica of the head (DLRMHead, the very code one thread runs), the same on
// every rank.
//
// A training step is the sequential step (src/train/local.ts) with collectives in it:
//   lookup        pool its shards over the whole batch with the model's own pooling
//                 (src/dlrm/tables/pool.ts): (B, W) per shard
//   all-to-all    (an op on the tape, src/ops/all_to_all.ts: the butterfly shuffle) the pooled
//                 vectors of every piece for its own slice [start, end) of the batch
//   forward       the head's forward and loss on its slice: a sum over the slice, seeded with
//                 1/B, so that what is differentiated is the mean loss over the whole batch
//   backward()    one call: the head's gradients, then the all-to-all's reverse exchange,
//                 which hands each owner its shards' pooled gradients for the lookups' backward
//   all-reduce    of the head's gradients, with the head's update in the middle (HeadSync,
//   + update      head_sync.ts): rank r sums chunk r of the gradients over the ranks (fixed
//                 order: the same bits everywhere), the optimizer (src/optim/make.ts) updates
//                 chunk r of the head and the rank's own shards' rows, and every rank copies
//                 the others' updated chunks (with the next all-to-all: three meetings a step)
// A prediction is the first three without gradients, each rank writing the predictions of its
// slice into the batch slot. The phases are timed and reported (STEP_PHASES): "MLP backward"
// runs until the exchange's backward begins, "embedding backward" from its end.
//
// The unit of model parallelism is a lookup piece of the model (src/dlrm/tables/): a plain
// table, one half of a QR table, an MD table (pooled at its own width d; its projection is
// the head's). "Table" in the plan and below means a piece; the batch's ids of the piece's
// table are mapped to the piece's ids (QR: quotient or remainder) before the lookup.
//
// Glossary: N ranks, r this rank, q a peer, B batch, Bm = end - start this rank's slice, Dd
// dense features, W a piece's width (E, or d for MD), L_t lookups of table t in the batch.

import { noGrad } from "../autograd/tape.ts";
import { writeSlicesInto, type CheckpointSlice, type TensorSlot } from "../dlrm/checkpoint_bytes.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import { DLRMHead } from "../dlrm/model.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import type { SparseInput } from "../data/batch.ts";
import { correctPredictions } from "../metrics/metrics.ts";
import { allToAllPooled, type ShardMap } from "../ops/all_to_all.ts";
import { makeOptimizer, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { firstNonFinite } from "../tensor/finite.ts";
import { allocFloat, withStepArena } from "../tensor/storage.ts";
import { IndexTensor, Tensor } from "../tensor/tensor.ts";
import { Communicator } from "./collectives.ts";
import { HeadSync } from "./head_sync.ts";
import {
  batchSlice,
  RES_BAD_INDEX,
  RES_BAD_VALUE,
  RES_CORRECT,
  RES_CPU,
  RES_LOSS,
  RES_SLICE,
  RES_TIMES,
  resultBase,
  STEP_PHASES,
  type HeadArrays,
  type RankInit,
  type SaveTarget,
} from "./protocol.ts";
import { holdingSlices, readHoldings, type RankHoldings } from "./rank_holdings.ts";
import { RankShards } from "./rank_shards.ts";
import { RankStatus } from "./rank_status.ts";
import type { RankFiles } from "./rank_threads.ts";
import { aheadIds, slotViews, type SlotViews } from "./batch_slots.ts";

export class Rank {
  readonly r: number;
  readonly N: number;
  readonly config: DLRMConfig;
  readonly comm: Communicator;
  readonly head: DLRMHead;
  /** Its shards of the tables, in its memory or in files. */
  readonly shards: RankShards;
  readonly optimizer: Optimizer;
  readonly #spec: OptimizerSpec;
  /** Where every piece's shards sit (the plan, as the all-to-all needs it). */
  readonly #shardMap: ShardMap;
  /** The head's parameters (bot_l.*, top_l.*), kept the same on every rank by #headSync. */
  readonly #headParams: [string, Tensor][];
  readonly #headSync: HeadSync;
  readonly #slots: SlotViews[];
  readonly #numbers: Float64Array;
  /** Its phase and step (shared with the main thread), phase times, injected faults. */
  readonly status: RankStatus;
  readonly #seed = new Float64Array(1); // the loss's upstream gradient, 1/B (reused: a step allocates no typed array)
  readonly #files: RankFiles | null;
  readonly #stepCpu: boolean;

  /** files: the host's file access (Node), for checkpoints on disk; null where there is none (a browser). */
  constructor(init: RankInit, files: RankFiles | null) {
    this.#files = files;
    this.#stepCpu = init.stepCpu;
    const { config, plan, source } = init;
    this.r = init.rank;
    this.N = init.ranks;
    this.config = config;
    this.#spec = init.optimizer;
    this.#numbers = new Float64Array(init.numbers);
    this.status = new RankStatus(new Int32Array(init.control), this.r, init.fault);
    this.comm = new Communicator(init.comm, this.r, { timeoutMs: init.timeoutMs });
    this.#slots = init.batchSlots.slots.map((b) => slotViews(init.batchSlots.layout, b));
    this.status.enter("starting", -1);

    // Long-lived arrays (parameters, the head's gradient bucket, optimizer state) are resident
    // in this thread's wasm memory, where the kernels use them without a copy.
    const pieces = tableLayout(config).pieces;
    const seed = source.kind === "seed" ? source.seed : null;
    this.head = new DLRMHead(config, seed);
    this.shards = new RankShards(init, files);
    this.#headParams = this.head.namedParameters();
    this.optimizer = makeOptimizer(init.optimizer, [...this.#headParams, ...this.shards.parameters()]);
    this.shards.attach(this.optimizer, this.#headParams.length);
    this.#headSync = new HeadSync(this.#headParams, this.optimizer, init.optimizer, this.comm);
    if (source.kind === "file") this.#load(source.index, source.withOptimizer);

    this.#shardMap = {
      piecesOf: plan.perRank.map((rp) => rp.shards.map((x) => x.table)),
      widths: pieces.map((p) => p.dim),
      parts: plan.tables.map((tp) =>
        tp.shards.map((s) => ({
          owner: s.rank,
          index: plan.perRank[s.rank].shards.findIndex((x) => x.table === s.table && x.rowStart === s.rowStart),
        })),
      ),
    };
  }

  /** Where its head's gradients and parameters are, for its peers to read (null: not in shared memory). */
  headArrays(): HeadArrays {
    return this.#headSync.arrays();
  }

  /** Every rank's headArrays(), by rank: from now on the head's collectives read the peers' arrays in place. */
  usePeers(heads: readonly HeadArrays[]): void {
    this.#headSync.usePeers(heads);
  }

  /** Write its stored shards' dirty rows back and close their files. */
  close(): void {
    this.shards.close();
  }

  /** What this rank holds of the model, for its checkpoint reads and writes. */
  get #held(): RankHoldings {
    const { r, optimizer } = this;
    return { r, headParams: this.#headParams, own: this.shards.own, optimizer, spec: this.#spec };
  }

  /** Read this rank's parameters (and optimizer state) from a checkpoint, by positional reads of its own rows only. */
  #load(index: SafetensorsIndex, withOptimizer: boolean): void {
    if (this.#files === null)
      throw new Error(`cannot read the checkpoint ${index.path}: this host gives the ranks no file access`);
    readHoldings(
      this.#files.openCheckpoint(index, this.config, withOptimizer ? this.#spec : null),
      this.#held,
      withOptimizer,
    );
  }

  /**
   * Write this rank's slices (parameters and optimizer state) into the checkpoint being made:
   * the temporary file (by positional writes), or the file's bytes in shared memory.
   */
  save(target: SaveTarget, slots: ReadonlyMap<string, TensorSlot>, withOptimizer: boolean): void {
    this.#headSync.flush(); // the last step's parameters, whole (every rank saves)
    if (withOptimizer) this.#headSync.gatherState(); // the head's state, whole on rank 0
    let write: (slices: CheckpointSlice[]) => void;
    if (target.kind === "memory")
      write = (slices) => writeSlicesInto(new Uint8Array(target.buffer), slots, slices, "the checkpoint in memory");
    else {
      const files = this.#files;
      if (files === null)
        throw new Error(`cannot write the checkpoint ${target.tmp}: this host gives the ranks no file access`);
      write = (slices) => files.writeSlices(target.tmp, slots, slices);
    }
    write(holdingSlices(this.#held, withOptimizer).map((x) => x.piece));
    this.shards.writeStored(write, withOptimizer);
  }

  #cpuMs(): number {
    return this.#stepCpu ? (this.#files?.threadCpuMs() ?? Number.NaN) : Number.NaN;
  }

  /**
   * One training step on the batch in batch slot `slot`, with learning rate lr. Its
   * activations and gradients come from the step arena (src/tensor/storage.ts), which the
   * next step recycles: nothing of a step outlives it but parameters, optimizer state and
   * this rank's own buffers.
   */
  trainStep(step: number, slot: number, lr: number): void {
    withStepArena(() => this.#run(step, slot, lr));
  }

  /** Predictions of the batch in batch slot `slot`: each rank writes its slice's into the slot. */
  predict(step: number, slot: number): void {
    withStepArena(() => noGrad(() => this.#run(step, slot, null)));
  }

  /** A training step (lr a number) or a prediction (lr null) on the batch in slot. */
  #run(step: number, slot: number, lr: number | null): void {
    const { N, r } = this;
    const train = lr !== null;
    const views = this.#slots[slot];
    const B = views.header[0];
    const slices = Array.from({ length: N }, (_, q) => batchSlice(B, N, q));
    const [start, end] = slices[r];
    const Bm = end - start;
    this.status.reset();
    const cpu0 = this.#cpuMs();
    if (train) this.optimizer.zeroGrad(); // the head's gradients are then written into #headSync's array

    this.status.enter(train ? "lookup" : "predict", step);
    // A training step's coming batches (tables on disk with look-ahead); a prediction has none.
    const ahead = lr === null ? [] : aheadIds(views);
    const own = this.shards.pool(this.#sparse(views, B), this.config.pooling, ahead); // each (B, W)
    const { pooled, received } = allToAllPooled(own, this.#shardMap, this.comm, {
      rank: r,
      slices,
      tag: ` (${train ? "step" : "prediction batch"} ${step})`,
      onPhase: train ? (phase) => this.status.enter(phase, step) : undefined,
    }); // per piece (Bm, W)

    if (train) this.status.enter("MLP forward", step);
    const res = resultBase(r, slot);
    const out = this.#numbers;
    out[res + RES_LOSS] = 0;
    out[res + RES_BAD_INDEX] = -1;
    out[res + RES_BAD_VALUE] = 0;
    out[res + RES_SLICE] = Bm;
    out[res + RES_CORRECT] = 0;
    let loss: Tensor | null = null;
    if (Bm > 0) {
      const Dd = this.config.dense_features;
      const pred = this.head.forward(new Tensor(views.dense.subarray(start * Dd, end * Dd), [Bm, Dd]), pooled); // (Bm,)
      if (!train) views.pred.set(pred.data, start);
      else {
        const bad = firstNonFinite(pred.data);
        if (bad >= 0) {
          // Diverged: the main thread stops the run with the sample's index in the batch.
          out[res + RES_BAD_INDEX] = start + bad;
          out[res + RES_BAD_VALUE] = pred.data[bad];
        } else {
          const labels = views.labels.subarray(start, end);
          loss = this.head.criterion(pred, new Tensor(labels, [Bm]), "sum");
          out[res + RES_LOSS] = loss.item();
          out[res + RES_CORRECT] = correctPredictions(pred.data, labels);
        }
      }
    }
    if (!train) {
      this.status.enter("waiting for a command", step);
      return;
    }

    // d(Σ_slice l_b / B) = the slice's share of d(mean loss over the batch). Without a loss
    // (an empty slice, a diverged step) the exchange still runs backward, with zeros: every
    // rank takes part in it.
    this.status.enter("MLP backward", step);
    if (loss !== null) {
      this.#seed[0] = 1 / B;
      loss.backward(this.#seed);
    } else received.backward(allocFloat("float32", received.size));

    // The head: reduce-scatter of its gradients, each rank updates its chunk, all-gather (head_sync.ts).
    this.status.enter("all-reduce", step);
    this.#headSync.reduceGradients(step);
    this.status.enter("update", step);
    this.optimizer.lr = lr;
    this.optimizer.step(this.#headSync.share); // its state lives where its parameter does (resident), its temporaries in the step
    this.shards.updated();
    this.status.enter("all-reduce", step);
    this.#headSync.gatherParameters(step);

    this.status.enter("waiting for a command", step);
    for (let k = 0; k < STEP_PHASES.length; k++) out[res + RES_TIMES + k] = this.status.times[k];
    out[res + RES_CPU] = this.#cpuMs() - cpu0;
  }

  /** The batch's bags of every table in the slot: (B + 1,) offsets, (L_t,) ids and weights. */
  #sparse(views: SlotViews, B: number): SparseInput[] {
    return views.tables.map((src, t) => {
      const L = views.header[1 + t];
      return {
        indices: new IndexTensor(src.indices.subarray(0, L)),
        offsets: new IndexTensor(src.offsets.subarray(0, B + 1)),
        weights: src.weights === null ? null : new Tensor(src.weights.subarray(0, L), [L]),
      };
    });
  }
}
