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
// A table may be more than one lookup (the QR trick: two; src/dlrm/tables.ts names them
// "pieces"): pool gives one (B, E) or (B, d_t) tensor per piece, and the head makes each
// table's vector from its pieces (QR: combineQR; MD: the projection emb_l.{t}.proj, a head
// parameter like the MLPs') before the interaction.
//
// Parameter names are the reference's state_dict names: bot_l.{2i}.weight/bias,
// top_l.{2i}.weight/bias, emb_l.{t}.weight (tableParameter(t)), or emb_l.{t}.weight_q /
// weight_r (QR), emb_l.{t}.embs.weight / proj.weight (MD), v_W_l.{t} (learned weighted
// pooling: per-row weights of table t, gathered at the bag's ids into the lookup's
// per-sample weights, as the reference's apply_emb does). parameterSpecs(config) lists them
// with their initialisation; initial values come from counter-based streams keyed by
// (seed, name) (src/dlrm/init.ts), so a model is the same bit for bit whether one thread or
// N ranks build it.
//
// Glossary: B batch, Dd dense features, E embedding dim, F tables, W interaction width.

import type { DLRMConfig } from "./config.ts";
import { fillInitial, mlpInit, type InitRule } from "./init.ts";
import { poolPiece } from "./pool.ts";
import {
  embeddingLayout,
  POOLING_WEIGHT_INIT,
  projectionSpec,
  type EmbeddingPiece,
  type TableLayout,
} from "./tables.ts";
import type { Batch } from "../data/batch.ts";
import { catInteraction, dotInteraction } from "../ops/interaction.ts";
import { bce, mse, type Reduction } from "../ops/loss.ts";
import { linear } from "../ops/matmul.ts";
import { combineQR } from "../ops/qr_embedding_bag.ts";
import { reshape } from "../ops/shape.ts";
import { MLP } from "../nn/linear.ts";
import { Module, ParameterTree } from "../nn/module.ts";
import { OpError, formatShape } from "../tensor/shape.ts";
import { withResidentStorage } from "../tensor/storage.ts";
import { zeros, type Tensor } from "../tensor/tensor.ts";

/** The state_dict name of plain table t's weight. */
export function tableParameter(t: number): string {
  return `emb_l.${t}.weight`;
}

/**
 * Whether a state_dict name is a table piece's or its learned pooling weights' (the
 * model-parallel part, row-sparse gradients) rather than the head's.
 */
export function isTableParameter(name: string): boolean {
  return /^emb_l\.\d+\.(weight|weight_q|weight_r|embs\.weight)$|^v_W_l\.\d+$/.test(name);
}

export interface ParameterSpec {
  name: string;
  shape: number[];
  init: InitRule;
}

/** Every parameter of the model of config: its state_dict name, shape and initialisation, in state_dict order (bottom, top, tables, pooling weights). */
export function parameterSpecs(config: DLRMConfig): ParameterSpec[] {
  const mlp = (prefix: string, sizes: readonly number[]): ParameterSpec[] =>
    sizes.slice(1).flatMap((out, i) => {
      // nn.Sequential numbering: the Linear layers are children 0, 2, 4, … (activations between)
      const w = { name: `${prefix}.${2 * i}.weight`, shape: [out, sizes[i]] };
      const b = { name: `${prefix}.${2 * i}.bias`, shape: [out] };
      return [w, b].map((p) => ({ ...p, init: mlpInit(p.name, p.shape) }));
    });
  const { tables, pieces } = embeddingLayout(config);
  const piece = (i: number): ParameterSpec => {
    const p = pieces[i] as EmbeddingPiece;
    return { name: p.name, shape: [p.rows, p.dim], init: p.init };
  };
  const E = config.embedding_dim;
  return [
    ...mlp("bot_l", config.bottom_mlp),
    ...mlp("top_l", config.top_mlp),
    ...tables.flatMap((l, t) => {
      if (l.kind === "qr") return [piece(l.quotient), piece(l.remainder)];
      if (l.kind === "md" && l.dim < E) return [piece(l.piece), projectionSpec(t, l.dim, E)];
      return [piece(l.piece)];
    }),
    // after the tables, as the reference's DLRM_Net registers v_W_l after emb_l
    ...pieces.flatMap((p) =>
      p.poolingWeight === null ? [] : [{ name: p.poolingWeight, shape: [p.rows], init: POOLING_WEIGHT_INIT }],
    ),
  ];
}

/** Fill every parameter of a module (named as in config's model) from the counter-based streams of this seed. */
export function initialiseParameters(m: Module, seed: number, config: DLRMConfig): void {
  const specs = new Map(parameterSpecs(config).map((s) => [s.name, s]));
  for (const [name, p] of m.namedParameters()) {
    const spec = specs.get(name);
    if (spec === undefined) throw new Error(`initialiseParameters: "${name}" is not a parameter of this model`);
    fillInitial(seed, name, spec.init, p.data);
  }
}

/** A resident zero tensor for a parameter (values are filled next). */
function parameterTensor(shape: readonly number[]): Tensor {
  return withResidentStorage(() => zeros(shape));
}

/** Bottom MLP, the tables' combinations and projections, interaction, top MLP and loss: the replicated part of DLRM. */
export class DLRMHead extends Module {
  readonly config: DLRMConfig;
  readonly bot_l: MLP;
  readonly top_l: MLP;
  /** What each table is made of (src/dlrm/tables.ts). */
  readonly layout: readonly TableLayout[];
  /** Per table, its MD projection (E, d_t), or null. */
  readonly projections: (Tensor | null)[];
  readonly #pieces: number;

  /** With a seed: the initial head of that model; with null: zeros, for values loaded next. */
  constructor(config: DLRMConfig, seed: number | null) {
    super();
    this.config = config;
    this.bot_l = this.registerModule("bot_l", new MLP(config.bottom_mlp, "relu", null));
    this.top_l = this.registerModule("top_l", new MLP(config.top_mlp, "sigmoid", null));
    const { tables, pieces } = embeddingLayout(config);
    this.layout = tables;
    this.#pieces = pieces.length;
    const E = config.embedding_dim;
    const tree = new ParameterTree();
    this.projections = tables.map((l, t) => {
      if (l.kind !== "md" || l.dim >= E) return null;
      const spec = projectionSpec(t, l.dim, E);
      return tree.add(spec.name.slice("emb_l.".length), parameterTensor(spec.shape)); // (E, d_t)
    });
    if (this.projections.some((p) => p !== null)) this.registerModule("emb_l", tree);
    if (seed !== null) initialiseParameters(this, seed, config);
  }

  /** Click probabilities (B,) from dense features (B, Dd) and one pooled tensor per table piece (embeddingPieces order). */
  forward(dense: Tensor, pooled: readonly Tensor[]): Tensor {
    if (pooled.length !== this.#pieces)
      throw new OpError(
        "DLRM.forward",
        `got ${pooled.length} pooled embeddings but the model's tables have ${this.#pieces} pieces`,
      );
    const vectors = this.layout.map((l, t) => {
      if (l.kind === "qr") return combineQR(pooled[l.quotient] as Tensor, pooled[l.remainder] as Tensor, l.operation); // (B, E) or (B, 2E)
      const v = pooled[l.piece] as Tensor; // (B, E), or (B, d_t) for MD
      const proj = this.projections[t] ?? null;
      return proj === null ? v : linear(v, proj, null); // (B, E) = v · projᵀ
    });
    const x = this.bot_l.forward(dense); // (B, E)
    const z =
      this.config.interaction === "dot"
        ? dotInteraction(x, vectors, { self: this.config.interaction_itself }) // (B, W)
        : catInteraction(x, vectors); // (B, W)
    const p = this.top_l.forward(z); // (B, 1)
    return reshape(p, [p.shape[0]]); // (B,)
  }

  /** The configured loss of predictions (B,) against labels (B,): their mean, or (reduction "sum") their sum. */
  criterion(pred: Tensor, labels: Tensor, reduction: Reduction = "mean"): Tensor {
    if (pred.shape[0] !== labels.shape[0]) {
      throw new OpError(
        "DLRM.loss",
        `labels ${formatShape(labels.shape)} do not match predictions ${formatShape(pred.shape)}`,
      );
    }
    return this.config.loss === "bce" ? bce(pred, labels, { reduction }) : mse(pred, labels, { reduction });
  }
}

export class DLRM extends Module {
  readonly config: DLRMConfig;
  readonly head: DLRMHead;
  readonly emb_l: ParameterTree;
  /** The tables' pieces (src/dlrm/tables.ts) and their weights, in the same order. */
  readonly pieces: readonly EmbeddingPiece[];
  readonly pieceWeights: readonly Tensor[];
  /** Learned weighted pooling: the tables' per-row weights v_W_l.{t} (R,), per piece (null: none). */
  readonly v_W_l: ParameterTree;
  readonly poolingWeights: readonly (Tensor | null)[];

  /** The initial model of this seed (an integer): the same values as N ranks build (src/dlrm/init.ts). */
  constructor(config: DLRMConfig, seed: number) {
    super();
    this.config = config;
    this.head = new DLRMHead(config, null);
    this.pieces = embeddingLayout(config).pieces;
    // emb_l holds the pieces and (MD) the head's projections, in parameterSpecs order.
    this.emb_l = new ParameterTree();
    const byName = new Map(this.head.namedParameters());
    const weights = new Map<string, Tensor>();
    for (const spec of parameterSpecs(config)) {
      if (!spec.name.startsWith("emb_l.")) continue;
      const t = byName.get(spec.name) ?? parameterTensor(spec.shape);
      weights.set(spec.name, this.emb_l.add(spec.name.slice("emb_l.".length), t));
    }
    this.pieceWeights = this.pieces.map((p) => weights.get(p.name) as Tensor);
    this.v_W_l = new ParameterTree();
    this.poolingWeights = this.pieces.map((p) =>
      p.poolingWeight === null
        ? null
        : this.v_W_l.add(p.poolingWeight.slice("v_W_l.".length), parameterTensor([p.rows])),
    );
    // Registration order fixes the order of parameters() and of saved checkpoints (the order
    // of the golden files: bottom, top, tables); the head's children keep their own names.
    this.registerModule("bot_l", this.head.bot_l);
    this.registerModule("top_l", this.head.top_l);
    this.registerModule("emb_l", this.emb_l);
    if (this.poolingWeights.some((w) => w !== null)) this.registerModule("v_W_l", this.v_W_l);
    initialiseParameters(this, seed, config);
  }

  get bot_l(): MLP {
    return this.head.bot_l;
  }

  get top_l(): MLP {
    return this.head.top_l;
  }

  /** Each piece's pooled bags of the batch, in piece order: (B, E) each, (B, d_t) for MD. */
  pool(batch: Batch): Tensor[] {
    const F = this.config.table_sizes.length;
    if (batch.sparse.length !== F) {
      throw new OpError(
        "DLRM.forward",
        `the batch has ${batch.sparse.length} sparse features but the model has ${F} tables`,
      );
    }
    return this.pieces.map((p, i) =>
      poolPiece(p, this.pieceWeights[i], this.poolingWeights[i], batch.sparse[p.table], this.config.pooling),
    );
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
