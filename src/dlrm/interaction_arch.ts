// The interaction stage of the head (TorchRec's inter_arch): how the bottom vector x (B, E)
// and the tables' vectors e_t (B, E) become the top MLP's input z (B, W). By the config's
// "interaction" (docs/dlrm.md draws each):
//
//   dot    the reference's: x, then the dot of every pair of vectors (src/ops/interaction.ts)
//   cat    the reference's: [x, e_0, …, e_{F-1}]
//   dcn    TorchRec's InteractionDCNArch (DLRM_DCN): x_0 = [x, e_0, …, e_{F-1}] (B, N), then
//          LowRankCrossNet's L layers: z = x_L (B, N)
//   cross  DCN (Wang et al. 2017), as DLRM's paper compares with it: the cross network
//          (VectorCrossNet's L layers) over x_0 and a deep MLP over x_0 side by side,
//          z = [x_L, deep(x_0)] (B, N + D)
//
// Parameters (TorchRec's names under inter_arch; none for dot and cat):
//   dcn    inter_arch.crossnet.W_kernels.{l} (N, r), .V_kernels.{l} (r, N), .bias.{l} (N,)
//   cross  inter_arch.crossnet.kernels.{l} (N, 1), .bias.{l} (N, 1),
//          inter_arch.deep.{2i}.weight (O, I), .bias (O,)  (nn.Sequential numbering, as bot_l)
// initialised as TorchRec does (kernels xavier-normal, biases zero) and the deep MLP as the
// reference's MLPs (src/dlrm/init.ts).
//
// Glossary: B batch, E the tables' vector width, F tables, N = (F + 1)·E, r the low rank,
// L cross layers, D the deep MLP's output width, W the top MLP's input width.

import { MLP } from "../nn/linear.ts";
import { LowRankCrossNet, VectorCrossNet, xavierStd } from "../nn/crossnet.ts";
import { Module } from "../nn/module.ts";
import { catInteraction, dotInteraction } from "../ops/interaction.ts";
import { concat } from "../ops/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { crossWidth, type DLRMConfig } from "./config.ts";
import type { ParameterSpec } from "./tables/piece.ts";

export class InteractionArch extends Module {
  readonly config: DLRMConfig;
  readonly crossnet: LowRankCrossNet | VectorCrossNet | null = null;
  readonly deep: MLP | null = null;

  /** Parameters at zero, for the model to fill (src/dlrm/init.ts) or load. */
  constructor(config: DLRMConfig) {
    super();
    this.config = config;
    const N = crossWidth(config);
    const L = config.dcn_num_layers as number;
    if (config.interaction === "dcn")
      this.crossnet = this.registerModule(
        "crossnet",
        new LowRankCrossNet(N, L, config.dcn_low_rank_dim as number, null),
      );
    if (config.interaction === "cross") {
      this.crossnet = this.registerModule("crossnet", new VectorCrossNet(N, L, null));
      this.deep = this.registerModule("deep", new MLP(config.deep_mlp as number[], "relu", null));
    }
  }

  /** x (B, E) and F × e_t (B, E) → z (B, W). */
  forward(x: Tensor, embs: readonly Tensor[]): Tensor {
    const c = this.config;
    if (c.interaction === "dot") return dotInteraction(x, embs, { self: c.interaction_itself });
    const x0 = catInteraction(x, embs); // [x, e_0, …] (B, N)
    if (this.crossnet === null) return x0;
    const crossed = this.crossnet.forward(x0); // (B, N)
    return this.deep === null ? crossed : concat([crossed, this.deep.forward(x0)], 1); // (B, N + D)
  }
}

/** The cross network's parameters with their initial rules, in registration order (the deep MLP's are init.ts's). */
export function crossnetSpecs(config: DLRMConfig): ParameterSpec[] {
  if (config.interaction !== "dcn" && config.interaction !== "cross") return [];
  const N = crossWidth(config);
  const L = config.dcn_num_layers as number;
  const kernel = (name: string, shape: [number, number]): ParameterSpec => ({
    name: `inter_arch.crossnet.${name}`,
    shape,
    init: { kind: "normal", std: xavierStd(shape) },
  });
  const zero = (l: number, shape: number[]): ParameterSpec => ({
    name: `inter_arch.crossnet.bias.${l}`,
    shape,
    init: { kind: "constant", value: 0 },
  });
  const layers = Array.from({ length: L }, (_, l) => l);
  if (config.interaction === "dcn") {
    const r = config.dcn_low_rank_dim as number;
    return [
      ...layers.map((l) => kernel(`W_kernels.${l}`, [N, r])),
      ...layers.map((l) => kernel(`V_kernels.${l}`, [r, N])),
      ...layers.map((l) => zero(l, [N])),
    ];
  }
  return [...layers.map((l) => kernel(`kernels.${l}`, [N, 1])), ...layers.map((l) => zero(l, [N, 1]))];
}
