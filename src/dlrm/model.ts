// The Deep Learning Recommendation Model (Naumov et al. 2019) as the reference builds it
// (facebookresearch/dlrm, DLRM_Net in dlrm_s_pytorch.py):
//
//   dense (B, Dd) ──bottom MLP──▶ x (B, E) ─┐
//   sparse_t ──embedding bag t──▶ e_t (B, E) ┴─▶ interaction (B, W) ──top MLP──▶ sigmoid ─▶ p (B,)
//
// In two parts, as the hybrid-parallel step treats them: the tables, pooled per bag (big: a
// rank pools only its own shards, src/parallel/rank.ts), and the head (DLRMHead: bottom MLP,
// interaction, top MLP, loss; small, replicated on every rank). DLRM is the two on one
// thread. What a table is made of (plain, QR, MD, learned pooling) is the table layout's
// (src/dlrm/tables/): it turns the pooled pieces into one vector per table.
//
// Parameter names are the reference's state_dict names (bot_l.{2i}.weight/bias, top_l.{2i}.…,
// the tables' in src/dlrm/tables/; the cross networks' are TorchRec's inter_arch.*); initial
// values come from counter-based streams keyed by (seed, name) (src/dlrm/init.ts): the same
// bits whether one thread or N ranks build it.
//
// Glossary: B batch, Dd dense features, E embedding dim, W interaction width.

import type { Batch } from "../data/batch.ts";
import { MLP } from "../nn/linear.ts";
import { Module, ParameterTree } from "../nn/module.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import { bce, mse, type Reduction } from "../ops/loss.ts";
import { reshape } from "../ops/shape.ts";
import { OpError, formatShape, sizeOf } from "../tensor/shape.ts";
import { allocResident } from "../tensor/storage.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { DLRMConfig } from "./config.ts";
import { initialiseParameters } from "./init.ts";
import { InteractionArch } from "./interaction_arch.ts";
import { tableLayout, type TableLayout } from "./tables/layout.ts";
import { piecePart, TableMemories } from "./tables/memories.ts";
import { poolPiece } from "./tables/pool.ts";

/** Bottom MLP, the tables' vectors, interaction, top MLP and loss: the replicated part of DLRM. */
export class DLRMHead extends Module {
  readonly config: DLRMConfig;
  readonly tables: TableLayout;
  readonly bot_l: MLP;
  readonly inter_arch: InteractionArch;
  readonly top_l: MLP;
  /** Per table, the head parameter of its layout (MD's projection (E, d_t)), or null. */
  readonly tableParameters: (Tensor | null)[];

  /** With a seed: the initial head of that model; with null: zeros, for values loaded next. */
  constructor(config: DLRMConfig, seed: number | null) {
    super();
    this.config = config;
    this.tables = tableLayout(config);
    this.bot_l = this.registerModule("bot_l", new MLP(config.bottom_mlp, "relu", null));
    this.inter_arch = this.registerModule("inter_arch", new InteractionArch(config)); // dot, cat: no parameters
    this.top_l = this.registerModule("top_l", new MLP(config.top_mlp, "sigmoid", null));
    const tree = new ParameterTree();
    this.tableParameters = this.tables.tables.map(({ headParameter: h }) =>
      h === null ? null : tree.add(h.name.slice("emb_l.".length), new Tensor(allocResident(sizeOf(h.shape)), h.shape)),
    );
    if (this.tableParameters.some((p) => p !== null)) this.registerModule("emb_l", tree);
    if (seed !== null) initialiseParameters(this, seed, config);
  }

  /** Click probabilities (B,) from dense features (B, Dd) and one pooled tensor per table piece. */
  forward(dense: Tensor, pooled: readonly Tensor[]): Tensor {
    const embs = this.tables.vectors(pooled, this.tableParameters); // F × (B, E)
    const x = this.bot_l.forward(dense); // (B, E)
    const z = this.inter_arch.forward(x, embs); // (B, W)
    const p = this.top_l.forward(z); // (B, 1)
    return reshape(p, [p.shape[0]]); // (B,)
  }

  /** The configured loss of predictions (B,) against labels (B,): their mean, or (reduction "sum") their sum. */
  criterion(pred: Tensor, labels: Tensor, reduction: Reduction = "mean"): Tensor {
    if (pred.shape[0] !== labels.shape[0])
      throw new OpError(
        "DLRM.loss",
        `labels ${formatShape(labels.shape)} do not match predictions ${formatShape(pred.shape)}`,
      );
    return this.config.loss === "bce" ? bce(pred, labels, { reduction }) : mse(pred, labels, { reduction });
  }
}

export class DLRM extends Module {
  readonly config: DLRMConfig;
  readonly head: DLRMHead;
  readonly tables: TableLayout;
  /** The tables' pieces' weights (pieces order), under emb_l with the head's table parameters. */
  readonly emb_l = new ParameterTree();
  readonly pieceWeights: readonly Tensor[];
  /** Learned weighted pooling: each piece's per-row weights v_W_l.{t} (R,), or null. */
  readonly v_W_l = new ParameterTree();
  readonly poolingWeights: readonly (Tensor | null)[];
  /** Where the pieces live: the step's memory while they fit, then table memories of their own. */
  readonly memories: TableMemories;

  /** The initial model of this seed, as N ranks build it (src/dlrm/init.ts); optimizer: whose state memories hold. */
  constructor(config: DLRMConfig, seed: number, optimizer: OptimizerSpec | null = null) {
    super();
    this.config = config;
    this.head = new DLRMHead(config, null);
    this.tables = this.head.tables;
    const pieces = this.tables.pieces;
    this.memories = new TableMemories(pieces.map(piecePart), optimizer);
    this.pieceWeights = pieces.map((p, i) => this.memories.tensor(i, [p.rows, p.dim]));
    const own = new Map(this.head.namedParameters()); // MD's projections are the head's
    pieces.forEach((p, i) => own.set(p.name, this.pieceWeights[i]));
    // emb_l in the specs' order, the checkpoint's
    for (const { name } of this.tables.specs())
      if (name.startsWith("emb_l.")) this.emb_l.add(name.slice("emb_l.".length), own.get(name) as Tensor);
    this.poolingWeights = pieces.map((p, i) =>
      p.poolingWeight === null
        ? null
        : this.v_W_l.add(p.poolingWeight.slice("v_W_l.".length), this.memories.tensor(i, [p.rows])),
    );
    // Registration order is the order of parameters() and of saved checkpoints (bottom, interaction, top, tables).
    this.registerModule("bot_l", this.head.bot_l);
    this.registerModule("inter_arch", this.head.inter_arch);
    this.registerModule("top_l", this.head.top_l);
    this.registerModule("emb_l", this.emb_l);
    if (this.poolingWeights.some((w) => w !== null)) this.registerModule("v_W_l", this.v_W_l);
    initialiseParameters(this, seed, config);
  }

  /** Each piece's pooled bags of the batch, in pieces order: (B, E) each, (B, d_t) for MD. */
  pool(batch: Batch): Tensor[] {
    const [got, F] = [batch.sparse.length, this.config.table_sizes.length];
    if (got !== F)
      throw new OpError("DLRM.forward", `the batch has ${got} sparse features but the model has ${F} tables`);
    const mode = this.config.pooling;
    return this.tables.pieces.map((p, i) =>
      poolPiece(p, this.pieceWeights[i], this.poolingWeights[i], batch.sparse[p.table], mode),
    );
  }

  /** Click probabilities (B,) for a batch. */
  forward(batch: Batch): Tensor {
    return this.head.forward(batch.dense, this.pool(batch));
  }

  /** The batch's mean loss (a scalar tensor) and the predictions it came from. */
  loss(batch: Batch): { loss: Tensor; pred: Tensor } {
    const pred = this.forward(batch);
    return { loss: this.head.criterion(pred, batch.labels), pred };
  }

  /** The configured loss of predictions (B,) against labels (B,), averaged over the batch. */
  criterion(pred: Tensor, labels: Tensor): Tensor {
    return this.head.criterion(pred, labels);
  }
}
