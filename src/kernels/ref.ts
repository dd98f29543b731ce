// The reference kernels: plain TypeScript loops that define what every fast kernel must
// compute. The WebAssembly kernels in ../../kernels/ have the same signatures (with byte
// pointers where these take an array and an element offset) and are tested against these.
//
// Conventions: row-major storage; every array argument is followed by the element offset
// where its data starts; leading dimensions (lda, ldb, ldc) are row strides in elements.
// The loops are generic over Float32Array and Float64Array so that gradcheck can run ops in
// float64.
//
// Glossary: M, N, K GEMM dims (C is M×N, the shared dim is K); B bags (batch), E embedding
// dim (row length), L total lookups (indices), U unique rows touched.

import { fusedRowBytes, rowScaleBias, rowValue, type QuantBits } from "./fused_rows.ts";

export type FloatArray = Float32Array | Float64Array;

/**
 * C = alpha · op(A) · op(B) + beta · C (+ bias in every row), where op(X) is X or Xᵀ.
 * op(A) is (M, K): A is stored (M, K) with row stride lda, or (K, M) when transA.
 * op(B) is (K, N): B is stored (K, N) with row stride ldb, or (N, K) when transB.
 * C is (M, N) with row stride ldc. beta = 0 overwrites C (NaNs in C do not propagate).
 * bias (N,) from biasOff, or null: added to every row of C (a Linear layer's bias).
 * relu: then C = max(C, 0) (a Linear layer and its ReLU in one pass; NaN stays NaN).
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: FloatArray,
  aOff: number,
  lda: number,
  b: FloatArray,
  bOff: number,
  ldb: number,
  beta: number,
  c: FloatArray,
  cOff: number,
  ldc: number,
  bias: FloatArray | null = null,
  biasOff = 0,
  relu = false,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const aik = transA ? a[aOff + k * lda + i] : a[aOff + i * lda + k];
        const bkj = transB ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j];
        acc += aik * bkj;
      }
      const ci = cOff + i * ldc + j;
      const v = beta === 0 ? alpha * acc : alpha * acc + beta * c[ci];
      const vb = bias === null ? v : v + bias[biasOff + j];
      c[ci] = relu ? Math.max(vb, 0) : vb;
    }
  }
}

/** Pooling modes of embedding bags: 0 = sum, 1 = mean (an empty bag pools to zeros). */
export const POOL_SUM = 0;
export const POOL_MEAN = 1;

/**
 * Pool B bags of rows of a table (R, E) into out (B, E).
 * Bag b holds lookups offsets[b] .. offsets[b+1]-1; lookup l reads row indices[l], scaled by
 * weights[l] when weights is not null; mean divides by the bag's lookup count.
 * Indices must already be checked to lie in [0, R).
 */
export function embedding_bag_fwd(
  B: number,
  E: number,
  mode: number,
  table: FloatArray,
  tableOff: number,
  indices: Int32Array,
  offsets: Int32Array,
  weights: FloatArray | null,
  out: FloatArray,
  outOff: number,
): void {
  for (let b = 0; b < B; b++) {
    const start = offsets[b];
    const end = offsets[b + 1];
    const o = outOff + b * E;
    for (let e = 0; e < E; e++) out[o + e] = 0;
    for (let l = start; l < end; l++) {
      const row = tableOff + indices[l] * E;
      const w = weights === null ? 1 : weights[l];
      for (let e = 0; e < E; e++) out[o + e] += w * table[row + e];
    }
    if (mode === POOL_MEAN && end > start) {
      const scale = 1 / (end - start);
      for (let e = 0; e < E; e++) out[o + e] *= scale;
    }
  }
}

/**
 * embedding_bag_fwd over a table held as fbgemm's fused row-wise quantized rows
 * (src/kernels/fused_rows.ts): R rows of fusedRowBytes(bits, E) bytes from byte tableOff,
 * each element x̂ = f32(f32(q · scale) + bias). Written as its definition: the row of every
 * lookup dequantized, then pooled by embedding_bag_fwd (so the wasm kernel, which pools term
 * by term in the same order, equals embedding_bag_fwd on the dequantized table bit for bit).
 * Indices must already be checked to lie in [0, R).
 */
export function embedding_bag_fwd_quantized(
  B: number,
  E: number,
  mode: number,
  bits: QuantBits,
  table: Uint8Array,
  tableOff: number,
  indices: Int32Array,
  offsets: Int32Array,
  weights: Float32Array | null,
  out: Float32Array,
  outOff: number,
): void {
  const rb = fusedRowBytes(bits, E);
  const L = B === 0 ? 0 : offsets[B];
  const rows = new Float32Array(L * E); // (L, E): lookup l's dequantized row
  for (let l = B === 0 ? 0 : offsets[0]; l < L; l++) {
    const row = tableOff + indices[l] * rb;
    const [scale, bias] = rowScaleBias(bits, table, row, E);
    for (let e = 0; e < E; e++) rows[l * E + e] = Math.fround(rowValue(bits, table, row, e) * scale) + bias;
  }
  const lookup = Int32Array.from({ length: L }, (_, l) => l); // lookup l reads row l of rows
  embedding_bag_fwd(B, E, mode, rows, 0, lookup, offsets, weights, out, outOff);
}

/**
 * The table gradient of embedding_bag_fwd, row-sparse: gradRows (U, E) += for every lookup l
 * of bag b, scale(b) · weights[l] · dout[b], added into row slot[l]. slot maps each lookup to
 * its unique row (0 .. U-1), so repeated ids are summed. scale(b) is 1 for sum and
 * 1/len(b) for mean.
 */
export function embedding_bag_bwd(
  B: number,
  E: number,
  mode: number,
  dout: FloatArray,
  doutOff: number,
  offsets: Int32Array,
  slots: Int32Array,
  weights: FloatArray | null,
  gradRows: FloatArray,
  gradOff: number,
): void {
  for (let b = 0; b < B; b++) {
    const start = offsets[b];
    const end = offsets[b + 1];
    const scale = mode === POOL_MEAN && end > start ? 1 / (end - start) : 1;
    const d = doutOff + b * E;
    for (let l = start; l < end; l++) {
      const g = gradOff + slots[l] * E;
      const w = scale * (weights === null ? 1 : weights[l]);
      for (let e = 0; e < E; e++) gradRows[g + e] += w * dout[d + e];
    }
  }
}

/** Sparse SGD: table[ids[u]] -= lr · gradRows[u] for u in 0 .. U-1 (ids unique). */
export function sgd_rows(
  U: number,
  E: number,
  lr: number,
  table: FloatArray,
  tableOff: number,
  ids: Int32Array,
  gradRows: FloatArray,
  gradOff: number,
): void {
  for (let u = 0; u < U; u++) {
    const row = tableOff + ids[u] * E;
    const g = gradOff + u * E;
    for (let e = 0; e < E; e++) table[row + e] -= lr * gradRows[g + e];
  }
}

/** The signature of the two accumulator row updates below: U gradient rows (U, E) applied to
 *  the table rows ids, with the optimizer's state acc (a value per element or per row). */
export type AccRows = (
  U: number,
  E: number,
  lr: number,
  eps: number,
  table: FloatArray,
  tableOff: number,
  acc: FloatArray,
  accOff: number,
  ids: Int32Array,
  gradRows: FloatArray,
  gradOff: number,
) => void;

/**
 * Row-wise sparse Adagrad (the reference's rwsadagrad): one accumulator per row.
 * acc[r] += mean(g²) over the row; table[r] -= lr · g / (sqrt(acc[r]) + eps).
 */
export const rowwise_adagrad_rows: AccRows = (U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff) => {
  for (let u = 0; u < U; u++) {
    const r = ids[u];
    const g = gradOff + u * E;
    let sq = 0;
    for (let e = 0; e < E; e++) sq += gradRows[g + e] * gradRows[g + e];
    const a = acc[accOff + r] + (E > 0 ? sq / E : 0);
    acc[accOff + r] = a;
    const step = lr / (Math.sqrt(a) + eps);
    const row = tableOff + r * E;
    for (let e = 0; e < E; e++) table[row + e] -= step * gradRows[g + e];
  }
};

/**
 * Adagrad on touched rows only (element-wise accumulators, the same shape as the table):
 * acc += g²; table -= lr · g / (sqrt(acc) + eps).
 */
export const adagrad_rows: AccRows = (U, E, lr, eps, table, tableOff, acc, accOff, ids, gradRows, gradOff) => {
  for (let u = 0; u < U; u++) {
    const r = ids[u] * E;
    const g = gradOff + u * E;
    for (let e = 0; e < E; e++) {
      const gi = gradRows[g + e];
      const a = acc[accOff + r + e] + gi * gi;
      acc[accOff + r + e] = a;
      table[tableOff + r + e] -= (lr * gi) / (Math.sqrt(a) + eps);
    }
  }
};

/**
 * DLRM's dot interaction of B samples of F features (each (B, E), xs[0] the bottom MLP's
 * output): out (B, W) row b = [xs[0][b], <xs[i][b], xs[j][b]> for i < F, j < i (j <= i
 * when self)], pairs i-major; W = E + P, P = F(F-1)/2 (F(F+1)/2 with self).
 */
export function dot_interaction_fwd(
  B: number,
  F: number,
  E: number,
  self: boolean,
  xs: readonly FloatArray[],
  out: FloatArray,
  outOff: number,
): void {
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  const bottom = xs[0];
  for (let b = 0; b < B; b++) {
    const row = b * E;
    let o = outOff + b * W;
    for (let e = 0; e < E; e++) out[o + e] = bottom[row + e];
    o += E;
    for (let i = 0; i < F; i++) {
      const xi = xs[i];
      const jEnd = self ? i + 1 : i;
      for (let j = 0; j < jEnd; j++) {
        const xj = xs[j];
        let acc = 0;
        for (let e = 0; e < E; e++) acc += xi[row + e] * xj[row + e];
        out[o++] = acc;
      }
    }
  }
}

/**
 * The backward of dot_interaction_fwd: given dout (B, W), for every pair (i, j) of sample b
 * with upstream d, gs[i][b] += d·xs[j][b] and gs[j][b] += d·xs[i][b] (2d·xs[i][b] on the
 * diagonal), and gs[0][b] += dout[b][0 .. E) for the passed-through bottom vector.
 * gs[k] null: feature k needs no gradient. A buffer may appear in gs more than once.
 */
export function dot_interaction_bwd(
  B: number,
  F: number,
  E: number,
  self: boolean,
  xs: readonly FloatArray[],
  dout: FloatArray,
  doutOff: number,
  gs: readonly (FloatArray | null)[],
): void {
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  const g0 = gs[0] ?? null;
  for (let b = 0; b < B; b++) {
    const row = b * E;
    let p = doutOff + b * W;
    if (g0 !== null) for (let e = 0; e < E; e++) g0[row + e] += dout[p + e];
    p += E;
    for (let i = 0; i < F; i++) {
      const xi = xs[i];
      const gi = gs[i] ?? null;
      const jEnd = self ? i + 1 : i;
      for (let j = 0; j < jEnd; j++) {
        const xj = xs[j];
        const gj = gs[j] ?? null;
        const d = dout[p++];
        if (gi !== null) for (let e = 0; e < E; e++) gi[row + e] += d * xj[row + e];
        if (gj !== null) for (let e = 0; e < E; e++) gj[row + e] += d * xi[row + e];
      }
    }
  }
}

/** y = max(x, 0) elementwise over n elements; NaN stays NaN, -0 becomes +0. */
export function relu_fwd(n: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let i = 0; i < n; i++) y[yOff + i] = Math.max(x[xOff + i], 0);
}

/**
 * The backward of relu_fwd: gx += g where x > 0 (gx untouched elsewhere) when accumulate,
 * else gx = g where x > 0 and +0 elsewhere (gx's old contents ignored).
 */
export function relu_bwd(
  n: number,
  x: FloatArray,
  xOff: number,
  g: FloatArray,
  gOff: number,
  gx: FloatArray,
  gxOff: number,
  accumulate: boolean,
): void {
  if (accumulate) {
    for (let i = 0; i < n; i++) if (x[xOff + i] > 0) gx[gxOff + i] += g[gOff + i];
  } else {
    for (let i = 0; i < n; i++) gx[gxOff + i] = x[xOff + i] > 0 ? g[gOff + i] : 0;
  }
}

/** y (C,) += Σ_r x[r] over the rows of x (R, C), added row by row in order: a bias gradient. */
export function col_sum(R: number, C: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[yOff + c] += x[xOff + r * C + c];
}

/**
 * The backward of a Linear layer fused with its ReLU (sgemm with relu): gx (R, C) = g where
 * y > 0, +0 elsewhere (gx's old contents ignored), and db (C,) += the column sums of gx,
 * added row by row: relu_bwd then col_sum in one pass. y is the layer's output, which is
 * > 0 exactly where the pre-activation was.
 */
export function relu_bwd_col_sum(
  R: number,
  C: number,
  y: FloatArray,
  yOff: number,
  g: FloatArray,
  gOff: number,
  gx: FloatArray,
  gxOff: number,
  db: FloatArray,
  dbOff: number,
): void {
  relu_bwd(R * C, y, yOff, g, gOff, gx, gxOff, false);
  col_sum(R, C, gx, gxOff, db, dbOff);
}

/** Dense SGD: w -= lr · g over n elements (the expression of sgd_rows, so the two agree bit for bit). */
export function sgd_dense(n: number, lr: number, w: FloatArray, wOff: number, g: FloatArray, gOff: number): void {
  for (let i = 0; i < n; i++) w[wOff + i] -= lr * g[gOff + i];
}

/** y += x over n elements: the in-place sum of the parallel all-reduce. */
export function add(n: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let i = 0; i < n; i++) y[yOff + i] += x[xOff + i];
}

/** y = 0 over n elements. */
export function fill_zero(n: number, y: FloatArray, yOff: number): void {
  y.fill(0, yOff, yOff + n);
}

// Philox-4x32-10 (src/tensor/philox.ts explains the generator). JavaScript has no 64-bit
// multiply: mulhi builds the high half of each product from exact float64 pieces.
const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/**
 * The high 32 bits of the 64-bit product m·x of two unsigned 32-bit integers, in exact
 * float64 arithmetic: m·xh and m·xl are below 2^48, and `>>> 0` of a non-negative double
 * below 2^32 is its floor (cheaper than Math.floor, and this runs ten times per block).
 */
function mulhi(m: number, x: number): number {
  const c = m * (x >>> 16) + (((m * (x & 0xffff)) / 65536) >>> 0); // floor(m·x / 2^16) < 2^48
  return (c / 65536) >>> 0;
}

/** The round keys of key (k0, k1): round r uses (k0 + r·W0, k1 + r·W1) mod 2^32, at [2r, 2r + 1]. */
export function philox_round_keys(k0: number, k1: number): Uint32Array {
  const keys = new Uint32Array(20);
  for (let r = 0; r < 10; r++) {
    keys[2 * r] = k0 + r * PHILOX_W0; // stored mod 2^32
    keys[2 * r + 1] = k1 + r * PHILOX_W1;
  }
  return keys;
}

/** Philox-4x32-10's ten rounds on counter (c0, c1, c2, c3) with precomputed round keys, into out[0..4). */
export function philox_rounds(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  keys: Uint32Array,
  out: Uint32Array,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  for (let r = 0; r < 20; r += 2) {
    const hi0 = mulhi(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ keys[r]) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ keys[r + 1]) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

/**
 * out[outOff + floor(j / width) · ld + j mod width] = lo + (hi - lo) · u for j < n (n / width
 * whole rows of width values every ld; width = ld = n: one run), u the top 24 bits of element first + j of
 * the Philox stream with key (k0, k1) over 2^24: element i is word i mod 4 of the block at
 * counter (floor(i / 4) mod 2^32, floor(i / 2^34), 0, 0). Computed in float64, rounded by the store.
 */
export function philox_uniform(
  n: number,
  width: number,
  ld: number,
  out: FloatArray,
  outOff: number,
  first: number,
  k0: number,
  k1: number,
  lo: number,
  hi: number,
): void {
  const block = new Uint32Array(4);
  const keys = philox_round_keys(k0 >>> 0, k1 >>> 0);
  let j = 0;
  while (j < n) {
    const i = first + j;
    const b = Math.floor(i / 4);
    philox_rounds(b % 4294967296, Math.floor(b / 4294967296), 0, 0, keys, block);
    for (let w = i % 4; w < 4 && j < n; w++, j++)
      out[outOff + Math.floor(j / width) * ld + (j % width)] = lo + ((hi - lo) * (block[w] >>> 8)) / 16777216;
  }
}
