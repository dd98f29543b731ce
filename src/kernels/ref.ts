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
  transA: boolean, transB: boolean,
  M: number, N: number, K: number,
  alpha: number,
  a: FloatArray, aOff: number, lda: number,
  b: FloatArray, bOff: number, ldb: number,
  beta: number,
  c: FloatArray, cOff: number, ldc: number,
  bias: FloatArray | null = null, biasOff = 0,
  relu = false,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const aik = transA ? a[aOff + k * lda + i] : a[aOff + i * lda + k];
        const bkj = transB ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j];
        acc += (aik as number) * (bkj as number);
      }
      const ci = cOff + i * ldc + j;
      const v = beta === 0 ? alpha * acc : alpha * acc + beta * (c[ci] as number);
      const vb = bias === null ? v : v + (bias[biasOff + j] as number);
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
  B: number, E: number, mode: number,
  table: FloatArray, tableOff: number,
  indices: Int32Array, offsets: Int32Array,
  weights: FloatArray | null,
  out: FloatArray, outOff: number,
): void {
  for (let b = 0; b < B; b++) {
    const start = offsets[b] as number;
    const end = offsets[b + 1] as number;
    const o = outOff + b * E;
    for (let e = 0; e < E; e++) out[o + e] = 0;
    for (let l = start; l < end; l++) {
      const row = tableOff + (indices[l] as number) * E;
      const w = weights === null ? 1 : (weights[l] as number);
      for (let e = 0; e < E; e++) out[o + e] += w * (table[row + e] as number);
    }
    if (mode === POOL_MEAN && end > start) {
      const scale = 1 / (end - start);
      for (let e = 0; e < E; e++) out[o + e] *= scale;
    }
  }
}

/**
 * The table gradient of embedding_bag_fwd, row-sparse: gradRows (U, E) += for every lookup l
 * of bag b, scale(b) · weights[l] · dout[b], added into row slot[l]. slot maps each lookup to
 * its unique row (0 .. U-1), so repeated ids are summed. scale(b) is 1 for sum and
 * 1/len(b) for mean.
 */
export function embedding_bag_bwd(
  B: number, E: number, mode: number,
  dout: FloatArray, doutOff: number,
  offsets: Int32Array, slots: Int32Array,
  weights: FloatArray | null,
  gradRows: FloatArray, gradOff: number,
): void {
  for (let b = 0; b < B; b++) {
    const start = offsets[b] as number;
    const end = offsets[b + 1] as number;
    const scale = mode === POOL_MEAN && end > start ? 1 / (end - start) : 1;
    const d = doutOff + b * E;
    for (let l = start; l < end; l++) {
      const g = gradOff + (slots[l] as number) * E;
      const w = scale * (weights === null ? 1 : (weights[l] as number));
      for (let e = 0; e < E; e++) gradRows[g + e] += w * (dout[d + e] as number);
    }
  }
}

/** Sparse SGD: table[ids[u]] -= lr · gradRows[u] for u in 0 .. U-1 (ids unique). */
export function sgd_rows(
  U: number, E: number, lr: number,
  table: FloatArray, tableOff: number,
  ids: Int32Array,
  gradRows: FloatArray, gradOff: number,
): void {
  for (let u = 0; u < U; u++) {
    const row = tableOff + (ids[u] as number) * E;
    const g = gradOff + u * E;
    for (let e = 0; e < E; e++) table[row + e] -= lr * (gradRows[g + e] as number);
  }
}

/**
 * Row-wise sparse Adagrad (the reference's rwsadagrad): one accumulator per row.
 * acc[r] += mean(g²) over the row; table[r] -= lr · g / (sqrt(acc[r]) + eps).
 */
export function rowwise_adagrad_rows(
  U: number, E: number, lr: number, eps: number,
  table: FloatArray, tableOff: number,
  acc: FloatArray, accOff: number,
  ids: Int32Array,
  gradRows: FloatArray, gradOff: number,
): void {
  for (let u = 0; u < U; u++) {
    const r = ids[u] as number;
    const g = gradOff + u * E;
    let sq = 0;
    for (let e = 0; e < E; e++) sq += (gradRows[g + e] as number) * (gradRows[g + e] as number);
    const a = (acc[accOff + r] as number) + (E > 0 ? sq / E : 0);
    acc[accOff + r] = a;
    const step = lr / (Math.sqrt(a) + eps);
    const row = tableOff + r * E;
    for (let e = 0; e < E; e++) table[row + e] -= step * (gradRows[g + e] as number);
  }
}

/**
 * Adagrad on touched rows only (element-wise accumulators, the same shape as the table):
 * acc += g²; table -= lr · g / (sqrt(acc) + eps).
 */
export function adagrad_rows(
  U: number, E: number, lr: number, eps: number,
  table: FloatArray, tableOff: number,
  acc: FloatArray, accOff: number,
  ids: Int32Array,
  gradRows: FloatArray, gradOff: number,
): void {
  for (let u = 0; u < U; u++) {
    const r = (ids[u] as number) * E;
    const g = gradOff + u * E;
    for (let e = 0; e < E; e++) {
      const gi = gradRows[g + e] as number;
      const a = (acc[accOff + r + e] as number) + gi * gi;
      acc[accOff + r + e] = a;
      table[tableOff + r + e] -= (lr * gi) / (Math.sqrt(a) + eps);
    }
  }
}

/**
 * DLRM's dot interaction of B samples of F features (each (B, E), xs[0] the bottom MLP's
 * output): out (B, W) row b = [xs[0][b], <xs[i][b], xs[j][b]> for i < F, j < i (j <= i
 * when self)], pairs i-major; W = E + P, P = F(F-1)/2 (F(F+1)/2 with self).
 */
export function dot_interaction_fwd(
  B: number, F: number, E: number, self: boolean,
  xs: readonly FloatArray[],
  out: FloatArray, outOff: number,
): void {
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  const bottom = xs[0] as FloatArray;
  for (let b = 0; b < B; b++) {
    const row = b * E;
    let o = outOff + b * W;
    for (let e = 0; e < E; e++) out[o + e] = bottom[row + e] as number;
    o += E;
    for (let i = 0; i < F; i++) {
      const xi = xs[i] as FloatArray;
      const jEnd = self ? i + 1 : i;
      for (let j = 0; j < jEnd; j++) {
        const xj = xs[j] as FloatArray;
        let acc = 0;
        for (let e = 0; e < E; e++) acc += (xi[row + e] as number) * (xj[row + e] as number);
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
  B: number, F: number, E: number, self: boolean,
  xs: readonly FloatArray[],
  dout: FloatArray, doutOff: number,
  gs: readonly (FloatArray | null)[],
): void {
  const W = E + (self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2);
  const g0 = gs[0] ?? null;
  for (let b = 0; b < B; b++) {
    const row = b * E;
    let p = doutOff + b * W;
    if (g0 !== null) for (let e = 0; e < E; e++) g0[row + e] += dout[p + e] as number;
    p += E;
    for (let i = 0; i < F; i++) {
      const xi = xs[i] as FloatArray;
      const gi = gs[i] ?? null;
      const jEnd = self ? i + 1 : i;
      for (let j = 0; j < jEnd; j++) {
        const xj = xs[j] as FloatArray;
        const gj = gs[j] ?? null;
        const d = dout[p++] as number;
        if (gi !== null) for (let e = 0; e < E; e++) gi[row + e] += d * (xj[row + e] as number);
        if (gj !== null) for (let e = 0; e < E; e++) gj[row + e] += d * (xi[row + e] as number);
      }
    }
  }
}

/** y = max(x, 0) elementwise over n elements; NaN stays NaN, -0 becomes +0. */
export function relu_fwd(n: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let i = 0; i < n; i++) y[yOff + i] = Math.max(x[xOff + i] as number, 0);
}

/**
 * The backward of relu_fwd: gx += g where x > 0 (gx untouched elsewhere) when accumulate,
 * else gx = g where x > 0 and +0 elsewhere (gx's old contents ignored).
 */
export function relu_bwd(n: number, x: FloatArray, xOff: number, g: FloatArray, gOff: number, gx: FloatArray, gxOff: number, accumulate: boolean): void {
  if (accumulate) {
    for (let i = 0; i < n; i++) if ((x[xOff + i] as number) > 0) gx[gxOff + i] += g[gOff + i] as number;
  } else {
    for (let i = 0; i < n; i++) gx[gxOff + i] = (x[xOff + i] as number) > 0 ? (g[gOff + i] as number) : 0;
  }
}

/** y (C,) += Σ_r x[r] over the rows of x (R, C), added row by row in order: a bias gradient. */
export function col_sum(R: number, C: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[yOff + c] += x[xOff + r * C + c] as number;
}

/**
 * The backward of a Linear layer fused with its ReLU (sgemm with relu): gx (R, C) = g where
 * y > 0, +0 elsewhere (gx's old contents ignored), and db (C,) += the column sums of gx,
 * added row by row: relu_bwd then col_sum in one pass. y is the layer's output, which is
 * > 0 exactly where the pre-activation was.
 */
export function relu_bwd_col_sum(
  R: number, C: number, y: FloatArray, yOff: number, g: FloatArray, gOff: number,
  gx: FloatArray, gxOff: number, db: FloatArray, dbOff: number,
): void {
  relu_bwd(R * C, y, yOff, g, gOff, gx, gxOff, false);
  col_sum(R, C, gx, gxOff, db, dbOff);
}

/** Dense SGD: w -= lr · g over n elements (the expression of sgd_rows, so the two agree bit for bit). */
export function sgd_dense(n: number, lr: number, w: FloatArray, wOff: number, g: FloatArray, gOff: number): void {
  for (let i = 0; i < n; i++) w[wOff + i] -= lr * (g[gOff + i] as number);
}

/** y += x over n elements: the in-place sum of the parallel all-reduce. */
export function add(n: number, x: FloatArray, xOff: number, y: FloatArray, yOff: number): void {
  for (let i = 0; i < n; i++) y[yOff + i] += x[xOff + i] as number;
}

/** y = 0 over n elements. */
export function fill_zero(n: number, y: FloatArray, yOff: number): void {
  y.fill(0, yOff, yOff + n);
}
