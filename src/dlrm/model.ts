// The Deep Learning Recommendation Model (Naumov et al. 2019) as the reference
// implementation builds it (facebookresearch/dlrm, DLRM_Net in dlrm_s_pytorch.py):
//
//   dense (B, Dd) ──bottom MLP──▶ x (B, E) ─┐
//   sparse_t ──embedding bag t──▶ e_t (B, E) ┴─▶ interaction (B, W) ──top MLP──▶ sigmoid ─▶ p (B,)
//
// Parameter names are the reference's state_dict names: bot_l.{2i}.weight/bias,
// top_l.{2i}.weight/bias, emb_l.{t}.weight.
//
// Glossary: B batch, Dd dense features, E embedding dim, F tables, W interaction width.

import type { DLRMConfig } from "./config.ts";
import type { Batch } from "../data/batch.ts";
import { catInteraction, dotInteraction } from "../ops/interaction.ts";
import { bce, mse } from "../ops/loss.ts";
import { reshape } from "../ops/shape.ts";
import { EmbeddingBagCollection } from "../nn/embedding_bag.ts";
import { MLP } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { OpError, formatShape } from "../tensor/shape.ts";
import type { Rng } from "../tensor/rng.ts";
import type { Tensor } from "../tensor/tensor.ts";

export class DLRM extends Module {
  readonly config: DLRMConfig;
  readonly bot_l: MLP;
  readonly top_l: MLP;
  readonly emb_l: EmbeddingBagCollection;

  /** Initialise in the reference's order (tables, bottom MLP, top MLP) from one generator. */
  constructor(config: DLRMConfig, rng: Rng) {
    super();
    this.config = config;
    this.emb_l = new EmbeddingBagCollection(config.table_sizes, config.embedding_dim, { mode: config.pooling, rng });
    this.bot_l = new MLP(config.bottom_mlp, "relu", rng);
    this.top_l = new MLP(config.top_mlp, "sigmoid", rng);
    // Registration order fixes the order of parameters() and of saved checkpoints
    // (the order of the golden files: bottom, top, tables).
    this.registerModule("bot_l", this.bot_l);
    this.registerModule("top_l", this.top_l);
    this.registerModule("emb_l", this.emb_l);
  }

  /** Click probabilities (B,) for a batch. */
  forward(batch: Batch): Tensor {
    const F = this.emb_l.tables.length;
    if (batch.sparse.length !== F) {
      throw new OpError("DLRM.forward", `the batch has ${batch.sparse.length} sparse features but the model has ${F} tables`);
    }
    const x = this.bot_l.forward(batch.dense); // (B, E)
    const embs = this.emb_l.tables.map((table, t) => {
      const s = batch.sparse[t] as Batch["sparse"][number];
      return table.forward(s.indices, { offsets: s.offsets }, s.weights); // (B, E)
    });
    const z =
      this.config.interaction === "dot"
        ? dotInteraction(x, embs, { self: this.config.interaction_itself }) // (B, W)
        : catInteraction(x, embs); // (B, W)
    const p = this.top_l.forward(z); // (B, 1)
    return reshape(p, [p.shape[0] as number]); // (B,)
  }

  /** The batch's mean loss (a scalar tensor) and the predictions it came from. */
  loss(batch: Batch): { loss: Tensor; pred: Tensor } {
    const pred = this.forward(batch);
    return { loss: this.criterion(pred, batch.labels), pred };
  }

  /** The configured loss of predictions (B,) against labels (B,), averaged over the batch. */
  criterion(pred: Tensor, labels: Tensor): Tensor {
    if (pred.shape[0] !== labels.shape[0]) {
      throw new OpError("DLRM.loss", `labels ${formatShape(labels.shape)} do not match predictions ${formatShape(pred.shape)}`);
    }
    return this.config.loss === "bce" ? bce(pred, labels) : mse(pred, labels);
  }
}
