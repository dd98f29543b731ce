// allToAllPooled: the hybrid-parallel step's exchange of pooled embeddings (the DLRM paper's
// "butterfly shuffle"; the reference's All2All_Req / All2All_Wait autograd functions), as an
// op on the tape. Each rank pooled its own table shards over the whole batch; the op sends
// rank q the rows of q's slice of every one of them, and returns, per piece of the model, the
// pooled vectors of this rank's slice. A piece split by rows over several ranks arrives in
// parts (each owner pooled its rows) that the op adds up, in row order.
//
// Backward is the reverse exchange: each piece's gradient (Bm, W) goes back to the owners of
// its shards (every part of a split piece gets the whole gradient: d(sum)/d(part) = 1), and
// each owner receives the gradient of its pooled (B, W) from every rank's slice. So a rank's
// step is the sequential one with collectives in it, and backward() is one call.
//
// A collective must run on every rank, so the exchange is recorded whenever gradients are
// (recordCollective), even on a rank that holds no shard, and a rank with no loss of its own
// (an empty slice, a diverged step) runs backward from `received` with a zero gradient. The
// communicator is handed in (src/parallel/collectives.ts has one), so that the op layer
// knows nothing of workers.
//
// Buffers come from the step storage (allocFloatUninit): each is written in full. The
// gradients are copied and added by the wasm kernels (kernels.add; a JavaScript loop over them
// cost ~0.3 ms of a batch-128 step on each rank).
//
// Glossary: N ranks, r this rank, q a peer, B batch, Bm this rank's slice, W a piece's
// width, V_q the widths of rank q's shards summed, P pieces.

import { gradForWrite, gradOf } from "../autograd/grad.ts";
import { kernels } from "../kernels/index.ts";
import { record, recordCollective } from "../autograd/tape.ts";
import { allocFloat, allocFloatUninit } from "../tensor/storage.ts";
import { OpError, formatShape } from "../tensor/shape.ts";
import { Tensor } from "../tensor/tensor.ts";

/** What the op needs of a communicator: an all-to-all with uneven splits (Communicator.allToAll's contract). */
export interface Exchange {
  allToAll(
    send: Float32Array,
    sendCounts: readonly number[],
    recv: Float32Array,
    recvCounts: readonly number[],
    phase: string,
  ): void;
}

/** Where the shards of the model's pieces sit: the sharding plan as the exchange needs it. */
export interface ShardMap {
  /** Per rank q: the piece of each shard q holds, in q's order. */
  readonly piecesOf: readonly (readonly number[])[];
  /** Per piece: its width W. */
  readonly widths: readonly number[];
  /** Per piece: its shards in row order, as (owner rank, position in the owner's list). */
  readonly parts: readonly (readonly { owner: number; index: number }[])[];
}

export interface AllToAllOptions {
  /** This rank. */
  rank: number;
  /** Per rank q: its slice [start, end) of the batch (covering [0, B) in order). */
  slices: readonly (readonly [number, number])[];
  /** Called as the exchange enters each phase (timing and status of a rank). */
  onPhase?: ((phase: "all-to-all forward" | "all-to-all backward" | "embedding backward") => void) | undefined;
  /** Appended to the phase names in the communicator's errors, e.g. " (step 3)". */
  tag?: string;
}

/**
 * own: this rank's pooled shards (B, W), in its order → per piece, (Bm, W) for this rank's
 * slice; received: everything received, the root of the reverse exchange.
 */
export function allToAllPooled(
  own: readonly Tensor[],
  map: ShardMap,
  comm: Exchange,
  opts: AllToAllOptions,
): { pooled: Tensor[]; received: Tensor } {
  const { rank: r, slices } = opts;
  const N = map.piecesOf.length;
  const mine = map.piecesOf[r] ?? [];
  if (slices.length !== N || own.length !== mine.length)
    throw new OpError(
      "allToAll",
      `${slices.length} slices and ${own.length} shards for ${N} ranks holding ${mine.length} here`,
    );
  const B = slices[N - 1]?.[1] ?? 0;
  const [start, end] = slices[r];
  const Bm = end - start;
  const rows = (q: number): number => slices[q][1] - slices[q][0];
  const V = map.piecesOf.map((ps) => ps.reduce((a, p) => a + map.widths[p], 0));
  own.forEach((x, i) => {
    const W = map.widths[mine[i]];
    if (x.shape.length !== 2 || x.shape[0] !== B || x.shape[1] !== W)
      throw new OpError("allToAll", `shard ${i} is ${formatShape(x.shape)}, expected (${B}, ${W})`);
  });
  const tag = opts.tag ?? "";

  // Send: for q = 0 .. N-1, rows of q's slice of every own shard, one after another.
  opts.onPhase?.("all-to-all forward");
  const send = allocFloatUninit("float32", B * V[r]) as Float32Array;
  let at = 0;
  for (let q = 0; q < N; q++) {
    const [qs, qe] = slices[q];
    own.forEach((x) => {
      const W = x.shape[1];
      send.set(x.data.subarray(qs * W, qe * W), at);
      at += (qe - qs) * W;
    });
  }
  const total = V.reduce((a, b) => a + b, 0);
  const recv = allocFloatUninit("float32", Bm * total) as Float32Array; // from q = 0 .. N-1, q's shards' (Bm, W)
  const sendCounts = slices.map((_, q) => rows(q) * V[r]);
  const recvCounts = V.map((v) => Bm * v);
  comm.allToAll(send, sendCounts, recv, recvCounts, `all-to-all forward${tag}`);
  // Where the block of shard i of rank q starts in recv.
  const blockAt: number[][] = [];
  at = 0;
  for (const ps of map.piecesOf) {
    const starts: number[] = [];
    for (const p of ps) {
      starts.push(at);
      at += Bm * map.widths[p];
    }
    blockAt.push(starts);
  }

  const received = recordCollective("allToAll", new Tensor(recv, [recv.length]), own, (g /* as recv */) => {
    opts.onPhase?.("all-to-all backward");
    const back = allocFloatUninit("float32", B * V[r]) as Float32Array; // from q, own shards' (B_q, W)
    comm.allToAll(g as Float32Array, recvCounts, back, sendCounts, `all-to-all backward${tag}`);
    opts.onPhase?.("embedding backward");
    let before = 0; // widths of the own shards before shard i
    own.forEach((x) => {
      const W = x.shape[1];
      const { g: dx, fresh } = gradForWrite(x); // (B, W): the slices cover every row once
      let from = 0;
      for (let q = 0; q < N; q++) {
        const [qs, qe] = slices[q];
        const n = (qe - qs) * W;
        const src = from + before * (qe - qs);
        if (fresh) dx.set(back.subarray(src, src + n), qs * W);
        else kernels.add(n, back, src, dx, qs * W);
        from += V[r] * (qe - qs);
      }
      before += W;
    });
  });

  const pooled = map.parts.map((parts, p) => {
    const W = map.widths[p];
    const n = Bm * W;
    const blocks = parts.map(({ owner, index }) => blockAt[owner][index]);
    let data: Float32Array;
    if (blocks.length === 1) data = recv.subarray(blocks[0], blocks[0] + n);
    else {
      // A piece split by rows: add the owners' partial sums in row order.
      data = allocFloat("float32", n) as Float32Array;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (const o of blocks) s += recv[o + i];
        data[i] = s;
      }
    }
    return record("allToAll", new Tensor(data, [Bm, W]), [received], (g /* (Bm, W) */) => {
      const dr = gradOf(received); // zero-filled: each piece adds into its own blocks only
      for (const o of blocks) kernels.add(n, g, 0, dr, o);
    });
  });
  return { pooled, received };
}
