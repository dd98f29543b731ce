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

import { crossWidth, parseConfig, topInputWidth, type DLRMConfig } from "./config.ts";
import { DLRM } from "./model.ts";
import { noGrad } from "../autograd/tape.ts";
import { batchOf } from "../data/batch.ts";
import type { Dataset } from "../data/dataset.ts";
import { drawSamples, STREAM, type DrawnSamples, type SampleLayout } from "../data/generated.ts";
import { auc } from "../metrics/metrics.ts";
import { Rng } from "../tensor/rng.ts";

export interface SyntheticOptions {
  /** Samples in each requested split: split j is stream j (training 0, evaluation 1). */
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

/** Samples the teacher's logit spread is measured on (its own stream), to standardise every batch alike. */
const CALIBRATION_SAMPLES = 8192;

/**
 * The hidden teacher of one config and seed, and its labelled samples. Sample i of a stream
 * (src/data/random.ts sampleRng) has inputs drawn as drawInputs says and the label
 * 1 with probability sigmoid(a · teacher(x) + b); a and b standardise the teacher's logits to
 * `logitStd`, measured once on a calibration stream, so a batch's labels depend on its own
 * samples only and any range of samples is made on its own.
 */
export class SyntheticTeacher {
  readonly config: DLRMConfig;
  readonly seed: number;
  readonly #model: DLRM;
  readonly #mean: number;
  readonly #scale: number;

  constructor(config: DLRMConfig, seed: number, logitStd = 2) {
    this.config = config;
    this.seed = seed;
    const rng = new Rng(seed);
    this.#model = new DLRM(teacherConfig(config), rng.nextU32());
    const E = config.embedding_dim;
    for (const weight of this.#model.pieceWeights) {
      const w = weight.data;
      for (let i = 0; i < w.length; i++) w[i] = rng.normal() / Math.sqrt(E);
    }
    const calibration = this.#logits(drawInputs(config, seed, STREAM.calibration, 0, CALIBRATION_SAMPLES).data);
    let mean = 0;
    for (const v of calibration) mean += v;
    mean /= calibration.length;
    let v2 = 0;
    for (const v of calibration) v2 += (v - mean) * (v - mean);
    const std = Math.sqrt(v2 / calibration.length) || 1;
    this.#mean = mean;
    this.#scale = logitStd / std;
  }

  /** Samples [first, first + n) of stream `stream`, labelled; probs (N,) are their click probabilities. */
  samples(stream: number, first: number, n: number): { data: Dataset; probs: Float64Array } {
    const { data, labelDraws } = drawInputs(this.config, this.seed, stream, first, n);
    const logits = this.#logits(data);
    const probs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      probs[i] = 1 / (1 + Math.exp(-(logits[i] - this.#mean) * this.#scale));
      data.labels[i] = labelDraws[i] < probs[i] ? 1 : 0;
    }
    return { data, probs };
  }

  /** The teacher's pre-sigmoid outputs, recovered from its probabilities in float64. */
  #logits(d: Dataset): Float64Array {
    const out = new Float64Array(d.n);
    const B = 4096;
    noGrad(() => {
      for (let s = 0; s < d.n; s += B) {
        const p = this.#model.forward(batchOf(d, s, Math.min(d.n, s + B))).data;
        for (let i = 0; i < p.length; i++) {
          const q = Math.min(Math.max(p[i], 1e-7), 1 - 1e-7);
          out[s + i] = Math.log(q / (1 - q));
        }
      }
    });
    return out;
  }
}

/** Whole splits (split j is stream j's first sizes[j] samples) and the teacher's AUC on each. */
export function syntheticData(config: DLRMConfig, o: SyntheticOptions): SyntheticData {
  const teacher = new SyntheticTeacher(config, o.seed, o.logitStd);
  const splits: Dataset[] = [];
  const teacherAuc: number[] = [];
  o.sizes.forEach((n, j) => {
    const { data, probs } = teacher.samples(j, 0, n);
    splits.push(data);
    teacherAuc.push(auc(probs, data.labels));
  });
  return { splits, teacherAuc };
}

/** The config without its table trick: plain tables of width E (a concat QR model's 2E bottom output becomes E). */
export function teacherConfig(config: DLRMConfig): DLRMConfig {
  if (config.qr === undefined && config.md === undefined) return config;
  const { qr: _qr, md: _md, ...plain } = config;
  const E = config.embedding_dim;
  const bottom = [...config.bottom_mlp.slice(0, -1), E];
  const narrow = { ...plain, bottom_mlp: bottom };
  const deep = config.deep_mlp === undefined ? {} : { deep_mlp: [crossWidth(narrow), ...config.deep_mlp.slice(1)] };
  const top = [topInputWidth({ ...narrow, ...deep }), ...config.top_mlp.slice(1)];
  return parseConfig({ ...narrow, ...deep, top_mlp: top }, "the synthetic teacher's config");
}

/** Dense uniform [0, 1); bag sizes uniform in config.bag_size; ids uniform per table. */
export function syntheticLayout(config: DLRMConfig): SampleLayout {
  const [lo, hi] = config.bag_size;
  return {
    denseFeatures: config.dense_features,
    tableSizes: config.table_sizes,
    maxBag: Math.max(1, hi),
    bagLength: (rng: Rng) => lo + rng.int(hi - lo + 1),
    weights: config.per_sample_weights,
  };
}

function drawInputs(config: DLRMConfig, seed: number, stream: number, first: number, n: number): DrawnSamples {
  return drawSamples(syntheticLayout(config), seed, stream, first, n);
}
