// Linear and MLP as the reference DLRM builds them (dlrm_s_pytorch.py create_mlp):
// a Linear per pair of widths, ReLU after each, Sigmoid (or nothing) after the last.
// Names follow nn.Sequential: the Linear layers are children "0", "2", "4", ...
// because each activation module takes the odd index between them.
//
// Glossary: B batch, I input width, O output width.

import { linear, type LinearActivation } from "../ops/matmul.ts";
import { sigmoid } from "../ops/elementwise.ts";
import { Module } from "./module.ts";
import { OpError } from "../tensor/shape.ts";
import { randn, Tensor } from "../tensor/tensor.ts";
import { allocResident, toResident } from "../tensor/storage.ts";
import type { Rng } from "../tensor/rng.ts";

export class Linear extends Module {
  readonly weight: Tensor; // (O, I)
  readonly bias: Tensor; // (O,)

  /**
   * weight ~ N(0, sqrt(2/(I+O))), bias ~ N(0, sqrt(1/O)), as the reference initialises, from
   * rng; with rng null both start at zero for the caller to fill (DLRM fills every parameter
   * from its counter-based streams, src/dlrm/init.ts).
   */
  constructor(inFeatures: number, outFeatures: number, rng: Rng | null) {
    super();
    if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || inFeatures < 1 || outFeatures < 1) {
      throw new OpError("Linear", `widths must be positive integers, got ${inFeatures} → ${outFeatures}`);
    }
    // Parameters live in wasm memory (resident), where the kernels use them with no copy.
    const [O, I] = [outFeatures, inFeatures];
    const w = rng === null ? null : randn([O, I], { rng, std: Math.sqrt(2 / (I + O)) }).data;
    const b = rng === null ? null : randn([O], { rng, std: Math.sqrt(1 / O) }).data;
    this.weight = this.registerParameter(
      "weight",
      new Tensor(w === null ? allocResident(O * I) : toResident(w), [O, I]),
    );
    this.bias = this.registerParameter("bias", new Tensor(b === null ? allocResident(O) : toResident(b), [O]));
  }

  /** x (B, I) → (B, O); activation "relu" fuses the ReLU that follows (nn.ReLU). */
  forward(x: Tensor, activation: LinearActivation = "none"): Tensor {
    return linear(x, this.weight, this.bias, activation); // (B, O)
  }
}

export type LastActivation = "relu" | "sigmoid" | "none";

export class MLP extends Module {
  readonly layers: Linear[] = [];
  readonly sizes: readonly number[];
  readonly last: LastActivation;

  /** sizes = [I, hidden..., O]; ReLU after every layer but the last, which gets `last`. rng as Linear's. */
  constructor(sizes: readonly number[], last: LastActivation, rng: Rng | null) {
    super();
    if (sizes.length < 2) throw new OpError("MLP", `needs at least two widths, got [${sizes.join(", ")}]`);
    this.sizes = [...sizes];
    this.last = last;
    for (let i = 0; i + 1 < sizes.length; i++) {
      this.layers.push(this.registerModule(String(2 * i), new Linear(sizes[i], sizes[i + 1], rng)));
    }
  }

  forward(x: Tensor): Tensor {
    let h = x; // (B, sizes[0])
    this.layers.forEach((layer, i) => {
      const act = i === this.layers.length - 1 ? this.last : "relu";
      h = layer.forward(h, act === "relu" ? "relu" : "none"); // the ReLU fused into the layer's GEMM
      if (act === "sigmoid") h = sigmoid(h);
    });
    return h; // (B, sizes[last])
  }
}
