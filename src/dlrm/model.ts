// The Deep Learning Recommendation Model (Naumov et al. 2019) as the reference
// implementation builds it (facebookresearch/dlrm, DLRM_Net in dlrm_s_pytorch.py):
//
//   dense (B, Dd) ──bottom MLP──▶ x (B, E) ─┐
//   sparse_t ──embedding bag t──▶ e_t (B, E) ┴─▶ interaction (B, W) ──top MLP──▶ sigmoid ─▶ p (B,)
//
// It comes in its two natural parts, because the hybrid-parallel scheme treats them apart:
//   - the tables (emb_l), each pooled per bag: big, never replicated; a rank holds only its
//     own (src/parallel/rank.ts pools its shards with the same embeddingBag op);
//   - the head (DLRMHead): bottom MLP, interaction, top MLP and the loss, given the dense
//     features and one pooled (B, E) tensor per table: small, replicated on every rank, which
//     runs exactly this code on its slice of the batch.
// DLRM is the two together on one thread: forward(batch) = head.forward(dense, pool(batch)).
//
// Parameter names are the reference's state_dict names: bot_l.{2i}.weight/bias,
// top_l.{2i}.weight/bias, emb_l.{t}.weight (tableParameter(t)). Initial values come from
// counter-based streams keyed by (seed, name) (src/dlrm/init.ts), so a model is the same
// bit for bit whether one thread or N ranks build it.
//
// Glossary: B batch, Dd dense features, E embedding dim, F tables, W interaction width.

import type { DLRMConfig } from "./config.ts";
import { fillInitial } from "./init.ts";
import type { Batch } from "../data/batch.ts";
import { catInteraction, dotInteraction } from "../ops/interaction.ts";
import { bce, mse, type Reduction } from "../ops/loss.ts";
import { reshape } from "../ops/shape.ts";
import { EmbeddingBagCollection } from "../nn/embedding_bag.ts";
import { MLP } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { OpError, formatShape } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** The state_dict name of table t's weight. */
export function tableParameter(t: number): string {
  return `emb_l.${t}.weight`;
}

/** Whether a state_dict name is a table's (the model-parallel part) rather than the head's. */
export function isTableParameter(name: string): boolean {
  return name.startsWith("emb_l.");
}

/** Every parameter of the model of config: its state_dict name and shape, in state_dict order (bottom, top, tables). */
export function parameterSpecs(config: DLRMConfig): { name: string; shape: number[] }[] {
  const mlp = (prefix: string, sizes: readonly number[]): { name: string; shape: number[] }[] =>
    sizes.slice(1).flatMap((out, i) => [
      // nn.Sequential numbering: the Linear layers are children 0, 2, 4, … (activations between)
      { name: `${prefix}.${2 * i}.weight`, shape: [out, sizes[i] as number] },
      { name: `${prefix}.${2 * i}.bias`, shape: [out] },
    ]);
  return [
    ...mlp("bot_l", config.bottom_mlp),
    ...mlp("top_l", config.top_mlp),
    ...config.table_sizes.map((rows, t) => ({ name: tableParameter(t), shape: [rows, config.embedding_dim] })),
  ];
}

/** Fill every parameter of a module from the counter-based streams of this seed. */
export function initialiseParameters(m: Module, seed: number): void {
  for (const [name, p] of m.namedParameters()) fillInitial(seed, name, p.shape, p.data);
}

/** Bottom MLP, interaction, top MLP and loss: the replicated part of DLRM. */
export class DLRMHead extends Module {
  readonly config: DLRMConfig;
  readonly bot_l: MLP;
  readonly top_l: MLP;

  /** With a seed: the initial head of that model; with null: zeros, for values loaded next. */
  constructor(config: DLRMConfig, seed: number | null) {
    super();
    this.config = config;
    this.bot_l = this.registerModule("bot_l", new MLP(config.bottom_mlp, "relu", null));
    this.top_l = this.registerModule("top_l", new MLP(config.top_mlp, "sigmoid", null));
    if (seed !== null) initialiseParameters(this, seed);
  }

  /** Click probabilities (B,) from dense features (B, Dd) and one pooled (B, E) tensor per table. */
  forward(dense: Tensor, pooled: readonly Tensor[]): Tensor {
    const F = this.config.table_sizes.length;
    if (pooled.length !== F) throw new OpError("DLRM.forward", `got ${pooled.length} pooled embeddings but the model has ${F} tables`);
    const x = this.bot_l.forward(dense); // (B, E)
    const z =
      this.config.interaction === "dot"
        ? dotInteraction(x, pooled, { self: this.config.interaction_itself }) // (B, W)
        : catInteraction(x, pooled); // (B, W)
    const p = this.top_l.forward(z); // (B, 1)
    return reshape(p, [p.shape[0] as number]); // (B,)
  }

  /** The configured loss of predictions (B,) against labels (B,): their mean, or (reduction "sum") their sum. */
  criterion(pred: Tensor, labels: Tensor, reduction: Reduction = "mean"): Tensor {
    if (pred.shape[0] !== labels.shape[0]) {
      throw new OpError("DLRM.loss", `labels ${formatShape(labels.shape)} do not match predictions ${formatShape(pred.shape)}`);
    }
    return this.config.loss === "bce" ? bce(pred, labels, { reduction }) : mse(pred, labels, { reduction });
  }
}

export class DLRM extends Module {
  readonly config: DLRMConfig;
  readonly head: DLRMHead;
  readonly emb_l: EmbeddingBagCollection;

  /** The initial model of this seed (an integer): the same values as N ranks build (src/dlrm/init.ts). */
  constructor(config: DLRMConfig, seed: number) {
    super();
    this.config = config;
    this.head = new DLRMHead(config, null);
    this.emb_l = new EmbeddingBagCollection(config.table_sizes, config.embedding_dim, { mode: config.pooling, rng: null });
    // Registration order fixes the order of parameters() and of saved checkpoints (the order
    // of the golden files: bottom, top, tables); the head's children keep their own names.
    this.registerModule("bot_l", this.head.bot_l);
    this.registerModule("top_l", this.head.top_l);
    this.registerModule("emb_l", this.emb_l);
    initialiseParameters(this, seed);
  }

  get bot_l(): MLP {
    return this.head.bot_l;
  }

  get top_l(): MLP {
    return this.head.top_l;
  }

  /** Each table's pooled bags of the batch: F tensors (B, E). */
  pool(batch: Batch): Tensor[] {
    const F = this.emb_l.tables.length;
    if (batch.sparse.length !== F) {
      throw new OpError("DLRM.forward", `the batch has ${batch.sparse.length} sparse features but the model has ${F} tables`);
    }
    return this.emb_l.tables.map((table, t) => {
      const s = batch.sparse[t] as Batch["sparse"][number];
      return table.forward(s.indices, { offsets: s.offsets }, s.weights); // (B, E)
    });
  }

  /** Click probabilities (B,) for a batch. */
  forward(batch: Batch): Tensor {
    return this.head.forward(batch.dense, this.pool(batch));
  }

  /** The batch's mean loss (a scalar tensor) and the predictions it came from. */
  loss(batch: Batch): { loss: Tensor; pred: Tensor } {
    const pred = this.forward(batch);
    return { loss: this.criterion(pred, batch.labels), pred };
  }

  /** The configured loss of predictions (B,) against labels (B,), averaged over the batch. */
  criterion(pred: Tensor, labels: Tensor): Tensor {
    return this.head.criterion(pred, labels);
  }
}
