// One rank of the hybrid-parallel DLRM (the DLRM paper's scheme, see docs/parallelism.md):
// model parallel for the embedding tables, data parallel for the rest.
//
// A rank holds, for the whole run,
//   - its shards of the embedding tables (whole tables or row ranges, by the sharding plan)
//     and their optimizer state: nobody else ever has these rows. It makes them itself, in
//     its own wasm memory: from the model's counter-based streams (src/dlrm/init.ts: the same
//     values whatever the worker count or row split), or read straight from a checkpoint
//     file at their byte offsets; and at a save it writes them at their offsets of the new
//     file (src/dlrm/checkpoint.ts), or of the new file's bytes in shared memory (a page).
//     File access comes from the host (RankFiles, src/parallel/rank_threads.ts: Node's is
//     rank_files.ts), so that this module loads in a browser's rank Worker too;
//   - a replica of the head (DLRMHead: bottom MLP, interaction, top MLP, loss; the very code
//     one thread runs), identical on every rank at every step;
//   - the slice [start, end) of every batch it runs the head on.
//
// A training step, phase by phase:
//   lookup               pool its shards for the whole batch: (B, E) per shard
//   all-to-all forward   (the butterfly shuffle) send each rank the rows of its slice; receive
//                        the pooled vectors of every table for its own slice
//   MLP forward          the head's forward and loss on its slice
//   MLP backward         gradients of the head and of the pooled vectors of its slice; the loss
//                        is a sum over the slice seeded with 1/B, so that what is
//                        differentiated is the mean loss over the whole batch
//   all-to-all backward  return each pooled-vector gradient to the owner of that table shard
//   embedding backward   owners turn (B, E) pooled-vector gradients into row-sparse table gradients
//   all-reduce           sum the head's gradients over the ranks (fixed order: the same bits everywhere)
//   update               the optimizer (src/optim/make.ts): the same dense update on every
//                        replica, sparse row updates on the rank's own shards
// A prediction is the first three phases without gradients, each rank writing the
// predictions of its slice into the staging slot.
//
// The unit of model parallelism is a lookup piece of the model (src/dlrm/tables.ts): a plain
// table, one half of a QR table, an MD table (pooled at its own width d; its projection is
// the head's). "Table" in the plan and below means a piece; the batch's ids of the piece's
// table are mapped to the piece's ids (QR: quotient or remainder) before the lookup.
//
// Glossary: N ranks, r this rank, q a peer, B batch, Bm = end - start this rank's slice, Dd
// dense features, E embedding dim, W a piece's width (E, or d for MD), F tables, S_q shards
// held by rank q, V_q the widths of q's shards summed, L_t lookups of table t in the batch.

import { noGrad } from "../autograd/tape.ts";
import { writePiecesInto, type CheckpointPiece, type TensorSlot } from "../dlrm/checkpoint_bytes.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { fillInitial } from "../dlrm/init.ts";
import { DLRMHead, lookupWeights } from "../dlrm/model.ts";
import { embeddingPieces, pieceIds, POOLING_WEIGHT_INIT, type EmbeddingPiece } from "../dlrm/tables.ts";
import { hostExit } from "../kernels/host.ts";
import { kernels } from "../kernels/index.ts";
import { embeddingBag } from "../ops/embedding_bag.ts";
import { makeOptimizer, stateArray, stateTensorName, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { OpError } from "../tensor/shape.ts";
import { allocFloat, allocInt32, withResidentStorage, withStepArena } from "../tensor/storage.ts";
import { empty, IndexTensor, Tensor } from "../tensor/tensor.ts";
import { Communicator } from "./collectives.ts";
import type { Shard } from "./plan.ts";
import {
  batchSlice,
  PHASES,
  RES_BAD_INDEX,
  RES_BAD_VALUE,
  RES_CPU,
  RES_LOSS,
  RES_SLICE,
  RES_TIMES,
  resultBase,
  STEP_PHASES,
  statusHeartbeat,
  statusPhase,
  statusStep,
  type Fault,
  type Phase,
  type RankInit,
  type SaveTarget,
} from "./protocol.ts";
import type { RankFiles } from "./rank_threads.ts";
import { slotViews, type SlotViews } from "./staging.ts";

interface OwnShard {
  shard: Shard;
  piece: EmbeddingPiece;
  /** The piece's state_dict name. */
  name: string;
  /** W. */
  dim: number;
  weight: Tensor; // (rowEnd - rowStart, W)
  /** Its rows of the piece's learned pooling weights, or null. */
  rowWeights: Tensor | null; // (rowEnd - rowStart,)
  label: string;
}

export class Rank {
  readonly r: number;
  readonly N: number;
  readonly config: DLRMConfig;
  readonly comm: Communicator;
  readonly head: DLRMHead;
  readonly own: OwnShard[];
  readonly optimizer: Optimizer;
  readonly #spec: OptimizerSpec;
  /** S_q: shards held by each rank. */
  readonly #shardsOf: number[];
  /** The pieces of the model (plan table i is piece i). */
  readonly #lookups: EmbeddingPiece[];
  /** V_q: the widths of rank q's shards summed (values per sample it pools). */
  readonly #widthOf: number[];
  /** Per table: where its shards sit, in row order: (owner rank, position in the owner's list). */
  readonly #sources: { owner: number; index: number }[][];
  /** Per rank q: the table of each of q's shards, in q's order. */
  readonly #tablesOf: number[][];
  /** Exchange buffers, sized for the largest batch and reused every step. */
  readonly #send: Float32Array;
  readonly #recv: Float32Array;
  readonly #recvGrad: Float32Array;
  readonly #dPooled: Float32Array;
  /** The head's parameters (bot_l.*, top_l.*) and their gradients, back to back in one array. */
  readonly #headParams: [string, Tensor][];
  readonly #flatGrad: Float32Array;
  readonly #slots: SlotViews[];
  readonly #control: Int32Array;
  readonly #numbers: Float64Array;
  readonly #fault: Fault | null;
  #phase: Phase = "starting";
  #step = -1;
  #phaseStart = 0;
  readonly #times = new Float64Array(STEP_PHASES.length);
  readonly #seed = new Float64Array(1); // the loss's upstream gradient, 1/B (reused: a step allocates no typed array)
  readonly #files: RankFiles | null;

  /** files: the host's file access (Node), for checkpoints on disk; null where there is none (a browser). */
  constructor(init: RankInit, files: RankFiles | null) {
    this.#files = files;
    const { config, plan } = init;
    this.r = init.rank;
    this.N = init.ranks;
    this.config = config;
    this.#spec = init.optimizer;
    this.#control = new Int32Array(init.control);
    this.#numbers = new Float64Array(init.numbers);
    this.#fault = init.fault;
    this.comm = new Communicator(init.comm, this.r, { timeoutMs: init.timeoutMs });
    this.#slots = init.staging.slots.map((b) => slotViews(init.staging.layout, b));
    this.enter("starting", -1);

    // Long-lived arrays (parameters, their gradient buffer, optimizer state) are resident in
    // this thread's wasm memory, where the kernels use them without a copy.
    const source = init.source;
    const pieces = embeddingPieces(config);
    this.#lookups = pieces;
    const built = withResidentStorage(() => {
      const head = new DLRMHead(config, source.kind === "seed" ? source.seed : null);
      const own = (plan.perRank[this.r]?.shards ?? []).map((shard): OwnShard => {
        const rows = shard.rowEnd - shard.rowStart;
        const piece = pieces[shard.table] as EmbeddingPiece;
        const W = piece.dim;
        const weight = empty([rows, W], { requiresGrad: true }); // (rows, W)
        if (source.kind === "seed") fillInitial(source.seed, piece.name, piece.init, weight.data, shard.rowStart * W);
        let rowWeights: Tensor | null = null;
        if (piece.poolingWeight !== null) {
          rowWeights = empty([rows], { requiresGrad: true }); // (rows,)
          if (source.kind === "seed")
            fillInitial(source.seed, piece.poolingWeight, POOLING_WEIGHT_INIT, rowWeights.data);
        }
        const label = shard.whole ? piece.label : `${piece.label} rows [${shard.rowStart}, ${shard.rowEnd})`;
        return { shard, piece, name: piece.name, dim: W, weight, rowWeights, label };
      });
      const headParams = head.namedParameters();
      const P = headParams.reduce((a, [, p]) => a + p.size, 0);
      const optimizer = makeOptimizer(init.optimizer, [
        ...headParams,
        ...own.map((o): [string, Tensor] => [o.name, o.weight]),
        ...own.flatMap((o): [string, Tensor][] =>
          o.rowWeights === null ? [] : [[o.piece.poolingWeight as string, o.rowWeights]],
        ),
      ]);
      return { head, own, headParams, optimizer, flatGrad: allocFloat("float32", P) as Float32Array };
    });
    this.head = built.head;
    this.own = built.own;
    this.#headParams = built.headParams;
    this.optimizer = built.optimizer;
    this.#flatGrad = built.flatGrad;
    if (source.kind === "file") withResidentStorage(() => this.#load(source.path, source.withOptimizer));

    this.#shardsOf = plan.perRank.map((rp) => rp.shards.length);
    this.#widthOf = plan.perRank.map((rp) =>
      rp.shards.reduce((a, x) => a + (pieces[x.table] as EmbeddingPiece).dim, 0),
    );
    this.#tablesOf = plan.perRank.map((rp) => rp.shards.map((x) => x.table));
    this.#sources = plan.tables.map((tp) =>
      tp.shards.map((s) => ({
        owner: s.rank,
        index: (plan.perRank[s.rank]?.shards ?? []).findIndex((x) => x.table === s.table && x.rowStart === s.rowStart),
      })),
    );
    const Bmax = init.staging.layout.maxBatch;
    const ownWidth = this.#widthOf[this.r];
    const totalWidth = this.#widthOf.reduce((a, b) => a + b, 0);
    const maxSlice = Math.ceil(Bmax / this.N);
    this.#send = new Float32Array(Math.max(Bmax * ownWidth, maxSlice * totalWidth)); // read by JS only
    // The kernels read these (pooled vectors into the interaction, gradients into the lookup's
    // backward): resident, so that they are used in place.
    const resident = (n: number): Float32Array => withResidentStorage(() => allocFloat("float32", n) as Float32Array);
    this.#recv = resident(maxSlice * totalWidth);
    this.#recvGrad = resident(Bmax * ownWidth);
    this.#dPooled = resident(Bmax * Math.max(0, ...this.own.map((o) => o.dim)));
  }

  /**
   * The pieces this rank holds of a checkpoint: (rank 0 only) the head and its optimizer
   * state, and its own table rows with theirs. A state tensor's first dimension is its
   * parameter's rows, so rows [a, b) of a shard are elements [a·perRow, b·perRow) of it.
   */
  #pieces(withOptimizer: boolean): { piece: CheckpointPiece; fullShape: number[] }[] {
    const out: { piece: CheckpointPiece; fullShape: number[] }[] = [];
    const params = this.optimizer.params;
    const add = (name: string, p: Tensor, fullShape: number[], rowStart: number, rowSparse: boolean): void => {
      const perRow = fullShape.slice(1).reduce((a, b) => a * b, 1);
      out.push({ piece: { name, first: rowStart * perRow, data: p.data as Float32Array }, fullShape });
      if (!withOptimizer) return;
      const i = params.indexOf(p);
      for (const s of stateTensors(this.#spec, fullShape, rowSparse)) {
        const stPerRow = s.shape.slice(1).reduce((a, b) => a * b, 1);
        out.push({
          piece: {
            name: stateTensorName(name, s.key),
            first: rowStart * stPerRow,
            data: stateArray(this.optimizer, i, s.key) as Float32Array,
          },
          fullShape: s.shape,
        });
      }
    };
    if (this.r === 0) for (const [name, p] of this.#headParams) add(name, p, [...p.shape], 0, false);
    for (const o of this.own) add(o.name, o.weight, [o.piece.rows, o.dim], o.shard.rowStart, true);
    for (const o of this.own)
      if (o.rowWeights !== null)
        add(o.piece.poolingWeight as string, o.rowWeights, [o.piece.rows], o.shard.rowStart, true);
    return out;
  }

  /** Read this rank's parameters (and optimizer state) from a checkpoint, by positional reads of its own rows only. */
  #load(path: string, withOptimizer: boolean): void {
    if (this.#files === null)
      throw new Error(`cannot read the checkpoint ${path}: this host gives the ranks no file access`);
    const file = this.#files.openCheckpoint(path, this.config, withOptimizer ? this.#spec : null);
    try {
      // Every rank needs the head; rank 0's list has it, the others read it here.
      if (this.r !== 0) for (const [name, p] of this.#headParams) file.read(name, 0, p.data as Float32Array);
      if (this.r !== 0 && withOptimizer) {
        for (const [name, p] of this.#headParams) {
          const i = this.optimizer.params.indexOf(p);
          for (const s of stateTensors(this.#spec, p.shape, false))
            file.read(stateTensorName(name, s.key), 0, stateArray(this.optimizer, i, s.key) as Float32Array);
        }
      }
      for (const { piece } of this.#pieces(withOptimizer)) file.read(piece.name, piece.first, piece.data);
    } finally {
      file.close();
    }
  }

  /**
   * Write this rank's pieces (parameters and optimizer state) into the checkpoint being made:
   * the temporary file (by positional writes), or the file's bytes in shared memory.
   */
  save(target: SaveTarget, slots: ReadonlyMap<string, TensorSlot>, withOptimizer: boolean): void {
    const pieces = this.#pieces(withOptimizer).map((x) => x.piece);
    if (target.kind === "memory") {
      writePiecesInto(new Uint8Array(target.buffer), slots, pieces, "the checkpoint in memory");
      return;
    }
    if (this.#files === null)
      throw new Error(`cannot write the checkpoint ${target.tmp}: this host gives the ranks no file access`);
    this.#files.writePieces(target.tmp, slots, pieces);
  }

  #cpuMs(): number {
    return this.#files?.threadCpuMs() ?? Number.NaN;
  }

  /** Record where this rank is (for errors and the main thread's watchdog), and time the phase it leaves. */
  enter(phase: Phase, step: number): void {
    const now = performance.now();
    const k = (STEP_PHASES as readonly string[]).indexOf(this.#phase);
    if (k >= 0) this.#times[k] = this.#times[k] + (now - this.#phaseStart);
    this.#phase = phase;
    this.#step = step;
    this.#phaseStart = now;
    Atomics.store(this.#control, statusPhase(this.r), PHASES.indexOf(phase));
    Atomics.store(this.#control, statusStep(this.r), step);
    Atomics.add(this.#control, statusHeartbeat(this.r), 1);
    const f = this.#fault;
    if (f !== null && f.rank === this.r && f.step === step && f.phase === phase) {
      if (f.action === "exit") hostExit(7);
      if (f.action === "throw") throw new Error(`injected fault in step ${step}, phase "${phase}"`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, f.ms ?? 60_000);
    }
  }

  get phase(): Phase {
    return this.#phase;
  }

  get step(): number {
    return this.#step;
  }

  /**
   * One training step on the batch in staging slot `slot`, with learning rate lr. Its
   * activations and gradients come from the step arena (src/tensor/storage.ts), which the
   * next step recycles: nothing of a step outlives it but parameters, optimizer state and
   * this rank's own buffers.
   */
  trainStep(step: number, slot: number, lr: number): void {
    withStepArena(() => this.#run(step, slot, lr));
  }

  /** Predictions of the batch in staging slot `slot`: each rank writes its slice's into the slot. */
  predict(step: number, slot: number): void {
    withStepArena(() => noGrad(() => this.#run(step, slot, null)));
  }

  /** A training step (lr a number) or a prediction (lr null) on the batch in slot. */
  #run(step: number, slot: number, lr: number | null): void {
    const { N, r } = this;
    const train = lr !== null;
    const views = this.#slots[slot] as SlotViews;
    const B = views.header[0];
    const [start, end] = batchSlice(B, N, r);
    const Bm = end - start;
    const ownWidth = this.#widthOf[r]; // V_r
    const totalWidth = this.#widthOf.reduce((a, b) => a + b, 0);
    const slices = Array.from({ length: N }, (_, q) => batchSlice(B, N, q));
    const sliceLen = (q: number): number => (slices[q] as [number, number])[1] - (slices[q] as [number, number])[0];
    this.#times.fill(0);
    const cpu0 = this.#cpuMs();
    const tag = (what: string): string => `${what} (${train ? "step" : "prediction batch"} ${step})`;

    if (train) {
      // Gradients start at zero; the head's accumulate straight into the all-reduce buffer.
      kernels.fill_zero(this.#flatGrad.length, this.#flatGrad, 0);
      let at = 0;
      for (const [, p] of this.#headParams) {
        p.grad = this.#flatGrad.subarray(at, at + p.size);
        at += p.size;
      }
      for (const o of this.own) {
        o.weight.zeroGrad();
        o.rowWeights?.zeroGrad();
      }
    }

    // Lookup: every own shard, the whole batch.
    this.enter(train ? "lookup" : "predict", step);
    const pooled = this.own.map((o) => this.#pool(o, views, B)); // each (B, W)

    // All-to-all forward: rank q gets rows [start_q, end_q) of every pooled shard, shard after shard.
    if (train) this.enter("all-to-all forward", step);
    const send = this.#send.subarray(0, B * ownWidth); // blocks for q = 0 .. N-1, each its shards' (B_q, W) one after another
    let at = 0;
    for (let q = 0; q < N; q++) {
      const [qs, qe] = slices[q] as [number, number];
      this.own.forEach((o, i) => {
        const W = o.dim;
        send.set((pooled[i] as Tensor).data.subarray(qs * W, qe * W), at);
        at += (qe - qs) * W;
      });
    }
    const recv = this.#recv.subarray(0, Bm * totalWidth); // blocks from q = 0 .. N-1, each q's shards' (Bm, W)
    this.comm.allToAll(
      send,
      slices.map((_, q) => sliceLen(q) * ownWidth),
      recv,
      this.#widthOf.map((V) => Bm * V),
      tag("all-to-all forward"),
    );
    // Where each shard's (Bm, W) block starts in recv, per owner q and position in q's list.
    const blockAt: number[][] = [];
    at = 0;
    for (let q = 0; q < N; q++) {
      const starts: number[] = [];
      for (const t of this.#tablesOf[q] as number[]) {
        starts.push(at);
        at += Bm * (this.#lookups[t] as EmbeddingPiece).dim;
      }
      blockAt.push(starts);
    }

    // The head on the slice. The pooled vectors become leaves whose gradients go back to the owners.
    if (train) this.enter("MLP forward", step);
    const embs = this.#sources.map((srcs, t) => {
      const W = (this.#lookups[t] as EmbeddingPiece).dim;
      const block = (s: { owner: number; index: number }): Float32Array => {
        const o = (blockAt[s.owner] as number[])[s.index] as number;
        return recv.subarray(o, o + Bm * W);
      };
      let data: Float32Array;
      if (srcs.length === 1) data = block(srcs[0] as { owner: number; index: number });
      else {
        // A table split by rows: each owner pooled its rows; add the partial sums in row order.
        data = allocFloat("float32", Bm * W) as Float32Array;
        const parts = srcs.map(block);
        for (let i = 0; i < data.length; i++) {
          let s = 0;
          for (const part of parts) s += part[i];
          data[i] = s;
        }
      }
      return new Tensor(data, [Bm, W], train); // (Bm, W)
    });
    const res = resultBase(r, slot);
    const out = this.#numbers;
    out[res + RES_LOSS] = 0;
    out[res + RES_BAD_INDEX] = -1;
    out[res + RES_BAD_VALUE] = 0;
    out[res + RES_SLICE] = Bm;
    let loss: Tensor | null = null;
    if (Bm > 0) {
      const Dd = this.config.dense_features;
      const dense = new Tensor(views.dense.subarray(start * Dd, end * Dd), [Bm, Dd]); // (Bm, Dd)
      const pred = this.head.forward(dense, embs); // (Bm,)
      if (!train) {
        views.pred.set(pred.data, start);
        this.enter("waiting for a command", step);
        return;
      }
      const bad = pred.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        // Diverged: the main thread stops the run with the sample's index in the batch.
        out[res + RES_BAD_INDEX] = start + bad;
        out[res + RES_BAD_VALUE] = pred.data[bad];
      } else {
        loss = this.head.criterion(pred, new Tensor(views.labels.subarray(start, end), [Bm]), "sum");
        out[res + RES_LOSS] = loss.item();
      }
    }
    if (!train) {
      this.enter("waiting for a command", step);
      return;
    }

    // MLP backward: d(Σ_slice l_b / B) = the slice's share of d(mean loss over the batch).
    this.enter("MLP backward", step);
    if (loss !== null) {
      this.#seed[0] = 1 / B;
      loss.backward(this.#seed);
    }

    // All-to-all backward: each owner gets the gradient of its shards for this slice.
    this.enter("all-to-all backward", step);
    const sendGrad = this.#send.subarray(0, Bm * totalWidth); // blocks for q, each q's shards' (Bm, W)
    at = 0;
    for (let q = 0; q < N; q++) {
      for (const t of this.#tablesOf[q] as number[]) {
        const n = Bm * (this.#lookups[t] as EmbeddingPiece).dim;
        const g = (embs[t] as Tensor).grad; // (Bm, W), null when the slice is empty or the step diverged
        if (g !== null) sendGrad.set(g, at);
        else sendGrad.fill(0, at, at + n);
        at += n;
      }
    }
    const recvGrad = this.#recvGrad.subarray(0, B * ownWidth); // blocks from q, each this rank's shards' (B_q, W)
    this.comm.allToAll(
      sendGrad,
      this.#widthOf.map((V) => Bm * V),
      recvGrad,
      slices.map((_, q) => sliceLen(q) * ownWidth),
      tag("all-to-all backward"),
    );

    // Embedding backward: reassemble each shard's (B, W) gradient, then through its lookup.
    this.enter("embedding backward", step);
    let before = 0; // widths of the own shards before shard i
    this.own.forEach((o, i) => {
      const W = o.dim;
      const dPooled = this.#dPooled.subarray(0, B * W); // (B, W)
      at = 0;
      for (let q = 0; q < N; q++) {
        const [qs, qe] = slices[q] as [number, number];
        const rows = qe - qs;
        const from = at + before * rows;
        dPooled.set(recvGrad.subarray(from, from + rows * W), qs * W);
        at += ownWidth * rows;
      }
      before += W;
      (pooled[i] as Tensor).backward(dPooled);
    });

    // All-reduce of the head's gradients.
    this.enter("all-reduce", step);
    this.comm.allReduce(this.#flatGrad, tag("all-reduce of the MLP gradients"));

    // Update: the same dense update everywhere; sparse updates of the own rows.
    this.enter("update", step);
    this.optimizer.lr = lr;
    withResidentStorage(() => this.optimizer.step()); // state made at the first step stays resident

    this.enter("waiting for a command", step);
    for (let k = 0; k < STEP_PHASES.length; k++) out[res + RES_TIMES + k] = this.#times[k];
    out[res + RES_CPU] = this.#cpuMs() - cpu0;
  }

  /** Pool one own shard over the whole batch: (B, W). */
  #pool(o: OwnShard, views: SlotViews, B: number): Tensor {
    const t = o.piece.table; // the sparse feature the piece looks up
    const src = views.tables[t] as SlotViews["tables"][number];
    const L = views.header[1 + t];
    const offsets = src.offsets.subarray(0, B + 1); // (B + 1,)
    const ids = pieceIds(o.piece, src.indices.subarray(0, L), this.config.table_sizes[t]); // (L,) the piece's ids
    const w = src.weights === null ? null : src.weights.subarray(0, L); // (L,)
    const mode = this.config.pooling;
    if (o.shard.whole) {
      const indices = new IndexTensor(ids);
      const dataWeights = w === null ? null : new Tensor(w, [L]);
      return embeddingBag(
        o.weight,
        indices,
        { offsets: new IndexTensor(offsets) },
        { mode, perSampleWeights: lookupWeights(o.rowWeights, indices, dataWeights, o.label), table: o.label },
      );
    }
    const f = rowRange(ids, offsets, w, B, o.shard, o.piece.rows, mode === "mean", o.piece.label);
    const Ls = f.indices.length;
    const indices = new IndexTensor(f.indices); // ids within the shard's rows, as its row weights are numbered
    const dataWeights = f.weights === null ? null : new Tensor(f.weights, [Ls]);
    return embeddingBag(
      o.weight,
      indices,
      { offsets: new IndexTensor(f.offsets) },
      { mode: "sum", perSampleWeights: lookupWeights(o.rowWeights, indices, dataWeights, o.label), table: o.label },
    );
  }
}

/**
 * The lookups of a batch that fall in a shard's rows [lo, hi), renumbered from 0, with
 * their bags' offsets (B + 1,). Every id is checked against the whole table first. Mean
 * pooling becomes a weighted sum with weight 1/|bag| (the whole bag's length), so the
 * partial sums of the row ranges add up to the mean.
 */
export function rowRange(
  ids: Int32Array, // (L,)
  offsets: Int32Array, // (B + 1,)
  weights: Float32Array | null, // (L,)
  B: number,
  shard: Shard,
  R: number,
  mean: boolean,
  table = `table ${shard.table}`,
): { indices: Int32Array; offsets: Int32Array; weights: Float32Array | null } {
  const L = ids.length;
  const lo = shard.rowStart;
  const hi = shard.rowEnd;
  const out = allocInt32(L); // step storage, as every array of a step
  const outW = weights !== null || mean ? (allocFloat("float32", L) as Float32Array) : null;
  const outOffsets = allocInt32(B + 1);
  let n = 0;
  for (let b = 0; b < B; b++) {
    const a = offsets[b];
    const e = offsets[b + 1];
    const scale = mean && e > a ? 1 / (e - a) : 1;
    for (let l = a; l < e; l++) {
      const id = ids[l];
      if (id < 0 || id >= R)
        throw new OpError("embeddingBag", `index ${id} out of range for ${table} with ${R} rows (bag ${b})`);
      if (id < lo || id >= hi) continue;
      out[n] = id - lo;
      if (outW !== null) outW[n] = (weights === null ? 1 : weights[l]) * scale;
      n++;
    }
    outOffsets[b + 1] = n;
  }
  return { indices: out.subarray(0, n), offsets: outOffsets, weights: outW === null ? null : outW.subarray(0, n) };
}
