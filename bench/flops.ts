// The arithmetic of one training sample of a DLRM, from its config: what a step must compute
// at the least, whatever program runs it. bench/cli_train.bench.ts divides the measured GEMM
// peak by it to get the ceiling in samples/s (issue 26).
//
// Counted, per sample (a multiply-add is 2 FLOP):
//   MLP forward   2·Σ n·m over both MLPs' layers (n inputs, m outputs)
//   MLP backward  dW: the same again; dx: the same less the first bottom layer's, whose input
//                 (the dense features) needs no gradient
//   bias          one add forward, one add into db backward, per layer output
//   interaction   dot: P pairs of the F+1 vectors (F tables and the bottom MLP's output; P =
//                 (F+1)F/2, or (F+1)(F+2)/2 with each vector's dot with itself), E multiply-adds
//                 a pair forward and 2·E backward (one into each vector's gradient); cat: none
//   embedding     E adds per lookup pooling forward, E multiply-adds per lookup for the SGD row
//                 update backward
//   optimizer     one multiply-add per MLP parameter per step (SGD), shared by the B samples
// Not counted: ReLU and sigmoid (comparisons and one exp a sample), the loss, copies. They are
// a small, memory-bound share and would only lower the ceiling.
//
// Glossary: B batch, E embedding dim, F tables, L lookups per bag, P interaction pairs.

/** The fields of a DLRM config the count needs (src/dlrm/config.ts names them so). */
export interface FlopShape {
  bottom_mlp: readonly number[];
  top_mlp: readonly number[];
  embedding_dim: number;
  table_sizes: readonly number[];
  interaction: "dot" | "cat";
  interaction_itself?: boolean;
}

export interface FlopCount {
  mlpForward: number;
  mlpBackward: number;
  bias: number;
  interaction: number;
  embedding: number;
  optimizer: number;
  total: number;
}

/** FLOP of one training sample at batch B with L lookups per bag. */
export function trainingFlopPerSample(c: FlopShape, B: number, L = 1): FlopCount {
  if (!(B >= 1) || !(L >= 0)) throw new Error(`trainingFlopPerSample: need B ≥ 1 and L ≥ 0, got B=${B}, L=${L}`);
  let macs = 0;
  let outputs = 0;
  let params = 0;
  for (const widths of [c.bottom_mlp, c.top_mlp])
    for (let i = 0; i + 1 < widths.length; i++) {
      const n = widths[i] as number;
      const m = widths[i + 1] as number;
      macs += n * m;
      outputs += m;
      params += n * m + m;
    }
  const firstLayer = (c.bottom_mlp[0] as number) * (c.bottom_mlp[1] as number);
  const F = c.table_sizes.length;
  const E = c.embedding_dim;
  const pairs = c.interaction === "dot" ? ((F + 1) * (F + (c.interaction_itself === true ? 2 : 0))) / 2 : 0;
  const count = {
    mlpForward: 2 * macs,
    mlpBackward: 2 * macs + 2 * (macs - firstLayer),
    bias: 2 * outputs,
    interaction: 2 * 3 * pairs * E,
    embedding: F * L * (E + 2 * E),
    optimizer: (2 * params) / B,
  };
  return { ...count, total: Object.values(count).reduce((a, b) => a + b, 0) };
}
