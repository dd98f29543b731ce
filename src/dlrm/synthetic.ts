// Synthetic click data with a known answer: inputs like the reference's random data, and
// labels drawn from a hidden "teacher" DLRM of the same architecture. A student trained
// on them can learn the teacher's function, so learning is visible, and the teacher's own
// AUC on the drawn labels is the best any model can reach on average.
//
// The teacher's tables are drawn wider than the reference init (N(0, 1/E) instead of
// U(±sqrt(1/R))) so that lookups, not only dense features, decide the label; its logits
// are then standardised to a chosen spread (an affine map of the last layer, which a
// student can represent). The teacher has plain tables even when the student uses the QR
// or MD trick (teacherConfig): the data then asks of a compressed model what it asks of a
// full one, so the AUC cost of a trick can be measured on it (docs/tricks.md).
//
// Glossary: N samples, Dd dense features, F tables, E embedding dim.

import { parseConfig, type DLRMConfig } from "./config.ts";
import { interactionWidth } from "../ops/interaction.ts";
import { DLRM } from "./model.ts";
import { noGrad } from "../autograd/tape.ts";
import { batchOf } from "../data/batch.ts";
import { offsetsFromLengths, type Dataset } from "../data/dataset.ts";
import { auc } from "../metrics/metrics.ts";
import { Rng } from "../tensor/rng.ts";

export interface SyntheticOptions {
  /** Samples in each requested split. */
  sizes: readonly number[];
  seed: number;
  /** Standard deviation of the teacher's logits (default 2: clear but noisy labels). */
  logitStd?: number;
}

export interface SyntheticData {
  /** One dataset per entry of sizes, drawn from the same teacher. */
  splits: Dataset[];
  /** The teacher's AUC on each split's drawn labels: what a perfect student reaches. */
  teacherAuc: number[];
}

/** Generated training samples when not given: steps × batch, and at least this many. */
export const SYNTHETIC_MIN_SIZE = 50000;

/** The held-out split drawn beside `dataSize` training samples: a fifth of them, at least 1000. */
export function syntheticEvalSize(dataSize: number): number {
  return Math.max(1000, Math.round(dataSize / 5));
}

export function syntheticData(config: DLRMConfig, o: SyntheticOptions): SyntheticData {
  const rng = new Rng(o.seed);
  const teacher = new DLRM(teacherConfig(config), rng.nextU32());
  const E = config.embedding_dim;
  for (const weight of teacher.pieceWeights) {
    const w = weight.data;
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() / Math.sqrt(E);
  }
  const splits: Dataset[] = [];
  const teacherAuc: number[] = [];
  for (const n of o.sizes) {
    const inputs = drawInputs(config, n, rng);
    const logits = teacherLogits(teacher, inputs);
    standardise(logits, o.logitStd ?? 2);
    const labels = new Float32Array(n);
    const probs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      probs[i] = 1 / (1 + Math.exp(-logits[i]));
      labels[i] = rng.uniform() < probs[i] ? 1 : 0;
    }
    splits.push({ ...inputs, labels });
    teacherAuc.push(auc(probs, labels));
  }
  return { splits, teacherAuc };
}

/** The config without its table trick: plain tables of width E (a concat QR model's 2E bottom output becomes E). */
export function teacherConfig(config: DLRMConfig): DLRMConfig {
  if (config.qr === undefined && config.md === undefined) return config;
  const { qr: _qr, md: _md, ...plain } = config;
  const E = config.embedding_dim;
  const bottom = [...config.bottom_mlp.slice(0, -1), E];
  const top = [
    interactionWidth(E, config.table_sizes.length, config.interaction, config.interaction_itself),
    ...config.top_mlp.slice(1),
  ];
  return parseConfig({ ...plain, bottom_mlp: bottom, top_mlp: top }, "the synthetic teacher's config");
}

/** Dense uniform [0, 1); bag sizes uniform in config.bag_size; ids uniform per table. */
function drawInputs(config: DLRMConfig, n: number, rng: Rng): Dataset {
  const Dd = config.dense_features;
  const dense = new Float32Array(n * Dd);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const [lo, hi] = config.bag_size;
  const sparse = config.table_sizes.map((R) => {
    const lengths = new Int32Array(n);
    for (let i = 0; i < n; i++) lengths[i] = lo + rng.int(hi - lo + 1);
    const offsets = offsetsFromLengths(lengths);
    const indices = new Int32Array(offsets[n]);
    for (let l = 0; l < indices.length; l++) indices[l] = rng.int(R);
    let weights: Float32Array | null = null;
    if (config.per_sample_weights) {
      weights = new Float32Array(indices.length);
      for (let l = 0; l < weights.length; l++) weights[l] = rng.uniform();
    }
    return { lengths, offsets, indices, weights };
  });
  return { n, denseFeatures: Dd, dense, labels: new Float32Array(n), sparse };
}

/** The teacher's pre-sigmoid outputs, recovered from its probabilities in float64. */
function teacherLogits(teacher: DLRM, d: Dataset): Float64Array {
  const out = new Float64Array(d.n);
  const B = 4096;
  noGrad(() => {
    for (let s = 0; s < d.n; s += B) {
      const p = teacher.forward(batchOf(d, s, Math.min(d.n, s + B))).data;
      for (let i = 0; i < p.length; i++) {
        const q = Math.min(Math.max(p[i], 1e-7), 1 - 1e-7);
        out[s + i] = Math.log(q / (1 - q));
      }
    }
  });
  return out;
}

function standardise(x: Float64Array, std: number): void {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= Math.max(1, x.length);
  let v2 = 0;
  for (const v of x) v2 += (v - mean) * (v - mean);
  const s = Math.sqrt(v2 / Math.max(1, x.length)) || 1;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) * (std / s);
}
