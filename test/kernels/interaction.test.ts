// The wasm dot interaction (kernels/interaction.wat) against the reference
// (src/kernels/ref.ts dot_interaction_fwd/bwd): random B, F (1 to 27 features, so the
// groups of four pairs and their leftovers both occur), E with every tail mod 4 and mod 16,
// with and without self interaction, features resident or staged, a feature passed twice,
// features without a gradient, and offsets into out and dout.
//
// Tolerance: the kernel sums float32 products in float32 in its own order, the reference in
// float64 (forward) or into float32 in pair order (backward). Both stay within the
// forward-error bound of a sum of n terms, so per element
//   |wasm − ref| ≤ 2·(n + 4)·u·S,  u = 2⁻²⁴,
// with n = E and S = Σ_e |x_i[e]·x_j[e]| for a dot, and n = F + 1 and S = |g| + Σ_j |c_ij·x_j|
// (+ |dout| for the bottom) for a gradient element.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import { dot_interaction_bwd, dot_interaction_fwd, KernelError } from "../../src/kernels/wasm.ts";
import { placeF32, SENTINEL, U32, values, whereArb, type Where } from "./placement.ts";

interface Case {
  B: number;
  F: number;
  E: number;
  self: boolean;
  where: Where[]; // per feature
  gWhere: Where[]; // per feature gradient
  noGrad: boolean[]; // per feature: no gradient
  twice: boolean; // pass feature 1's array again as the last feature
  outWhere: Where;
  outOff: number;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    B: fc.constantFrom(0, 1, 2, 3, 5, 17),
    F: fc.oneof(fc.constantFrom(1, 2, 4, 5, 8, 9, 27), fc.integer({ min: 1, max: 12 })),
    E: fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 20, 33),
    self: fc.boolean(),
    twice: fc.boolean(),
    outWhere: whereArb,
    outOff: fc.integer({ min: 0, max: 7 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    where: fc.array(whereArb, { minLength: 27, maxLength: 27 }),
    gWhere: fc.array(whereArb, { minLength: 27, maxLength: 27 }),
    noGrad: fc.array(fc.boolean(), { minLength: 27, maxLength: 27 }),
  })
  .map((c) => ({ ...c, twice: c.twice && c.F >= 3 }));

function pairsOf(F: number, self: boolean): number {
  return self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2;
}

function check(c: Case): void {
  const { B, F, E, self } = c;
  const W = E + pairsOf(F, self);
  // feature data; with `twice`, the last feature is feature 1's very array
  const data = Array.from({ length: F }, (_, k) => values(c.seed + k, B * E));
  const xs = data.map((d, k) => placeF32(d, c.where[k] as Where, 0));
  if (c.twice) {
    xs[F - 1] = xs[1] as Float32Array;
    data[F - 1] = data[1] as Float32Array;
  }
  const x64 = data.map((d) => Float64Array.from(d));

  // ---- forward
  const out = placeF32(new Float32Array(B * W).fill(NaN), c.outWhere, c.outOff);
  dot_interaction_fwd(B, F, E, self, xs, out, c.outOff);
  const want = new Float64Array(B * W);
  ref.dot_interaction_fwd(B, F, E, self, x64, want, 0);
  for (let p = 0; p < out.length; p++) {
    const q = p - c.outOff;
    if (q < 0 || q >= B * W) {
      assert.ok(Object.is(out[p], SENTINEL), `out[${p}] outside the output changed`);
      continue;
    }
    const b = Math.floor(q / W);
    const col = q % W;
    let S = 0;
    if (col >= E) {
      // pair (i, j) of this column: walk the pairs in order
      let k = E;
      for (let i = 0; i < F && S === 0; i++) {
        for (let j = 0; j < (self ? i + 1 : i); j++, k++) {
          if (k !== col) continue;
          for (let e = 0; e < E; e++)
            S += Math.abs((x64[i] as Float64Array)[b * E + e]! * (x64[j] as Float64Array)[b * E + e]!);
        }
      }
    }
    const tol = col < E ? 0 : 2 * (E + 4) * U32 * S + 1e-38;
    const got = out[p] as number;
    const w = want[q] as number;
    if (!(Math.abs(got - w) <= tol)) throw new Error(`out[${b}][${col}] = ${got}, reference ${w} (tolerance ${tol})`);
  }

  // ---- backward
  const dout64 = Float64Array.from(values(c.seed + 100, B * W));
  const dout = placeF32(Float32Array.from(dout64), c.outWhere, c.outOff);
  const gInit = Array.from({ length: F }, (_, k) => values(c.seed + 200 + k, B * E));
  const gs: (Float32Array | null)[] = gInit.map((g, k) => (c.noGrad[k] ? null : placeF32(g, c.gWhere[k] as Where, 0)));
  const g64: (Float64Array | null)[] = gInit.map((g, k) => (c.noGrad[k] ? null : Float64Array.from(g)));
  if (c.twice) {
    gs[F - 1] = gs[1] ?? null;
    g64[F - 1] = g64[1] ?? null;
  }
  dot_interaction_bwd(B, F, E, self, xs, dout, c.outOff, gs);
  ref.dot_interaction_bwd(B, F, E, self, x64, dout64, 0, g64);
  // S per gradient element, in float64, over the same aliasing
  const S = g64.map((g) => (g === null ? null : new Float64Array(B * E)));
  const seen = new Set<Float64Array>();
  g64.forEach((g, k) => {
    if (g === null || seen.has(g)) return;
    seen.add(g);
    const s = S[k] as Float64Array;
    for (let n = 0; n < B * E; n++) s[n] = Math.abs((gInit[k] as Float32Array)[n]!);
  });
  for (let b = 0; b < B; b++) {
    const pairBase = b * W + E;
    let p = pairBase;
    for (let i = 0; i < F; i++) {
      for (let j = 0; j < (self ? i + 1 : i); j++, p++) {
        const d = Math.abs(dout64[p]!);
        for (let e = 0; e < E; e++) {
          const si = S[i] ?? null;
          const sj = S[j] ?? null;
          if (si !== null) si[b * E + e]! += d * Math.abs((x64[j] as Float64Array)[b * E + e]!);
          if (sj !== null) sj[b * E + e]! += d * Math.abs((x64[i] as Float64Array)[b * E + e]!);
        }
      }
    }
    if (S[0]) for (let e = 0; e < E; e++) (S[0] as Float64Array)[b * E + e]! += Math.abs(dout64[b * W + e]!);
  }
  const checked = new Set<Float32Array>();
  gs.forEach((g, k) => {
    if (g === null || checked.has(g)) return;
    checked.add(g);
    const w = g64[k] as Float64Array;
    const s = S[k] as Float64Array;
    // how many features share this buffer: each adds its own F + 1 terms
    const uses = gs.filter((h) => h === g).length;
    for (let n = 0; n < g.length; n++) {
      if (n >= B * E) {
        assert.ok(Object.is(g[n], SENTINEL), `gs[${k}][${n}] past the gradient changed`);
        continue;
      }
      const tol = 2 * (uses * (F + 1) + 4) * U32 * (s[n] as number) + 1e-38;
      if (!(Math.abs((g[n] as number) - (w[n] as number)) <= tol)) {
        throw new Error(`gs[${k}][${n}] = ${g[n]}, reference ${w[n]} (tolerance ${tol})`);
      }
    }
  });
  // features are read, never written
  xs.forEach((x, k) => {
    for (let n = 0; n < B * E; n++)
      if (!Object.is(x[n], (data[k] as Float32Array)[n])) throw new Error(`xs[${k}][${n}] changed`);
  });
}

test("dot_interaction: wasm equals ref within float32 rounding, forward and backward", () => {
  fc.assert(
    fc.property(caseArb, (c) => check(c)),
    { seed: 4601, numRuns: 80 },
  );
});

test("dot_interaction: the DLRM shape (27 features of 16), resident and staged", () => {
  const all = (w: Where): Where[] => new Array<Where>(27).fill(w);
  for (const w of ["resident", "plain"] as const) {
    check({
      B: 9,
      F: 27,
      E: 16,
      self: false,
      where: all(w),
      gWhere: all(w),
      noGrad: new Array<boolean>(27).fill(false),
      twice: false,
      outWhere: w,
      outOff: 0,
      seed: 3,
    });
  }
});

test("dot_interaction: a hand-computed sample, with and without self", () => {
  // x0 = [1, 2], x1 = [3, 4], x2 = [5, 6]: <x1,x0> = 11, <x2,x0> = 17, <x2,x1> = 39
  const xs = [Float32Array.of(1, 2), Float32Array.of(3, 4), Float32Array.of(5, 6)];
  const out = new Float32Array(5);
  dot_interaction_fwd(1, 3, 2, false, xs, out, 0);
  assert.equal(Array.from(out), [1, 2, 11, 17, 39]); // exact in float32
  const outSelf = new Float32Array(8);
  dot_interaction_fwd(1, 3, 2, true, xs, outSelf, 0);
  // pairs (0,0) (1,0) (1,1) (2,0) (2,1) (2,2) = 5, 11, 25, 17, 39, 61
  assert.equal(Array.from(outSelf), [1, 2, 5, 11, 25, 17, 39, 61]);
  // backward with dout = [0, 0, 1, 0, 0] (only <x1, x0>): g0 += x1, g1 += x0
  const gs = [new Float32Array(2), new Float32Array(2), new Float32Array(2)];
  dot_interaction_bwd(1, 3, 2, false, xs, Float32Array.of(0, 0, 1, 0, 0), 0, gs);
  assert.equal(
    gs.map((g) => Array.from(g)),
    [
      [3, 4],
      [1, 2],
      [0, 0],
    ],
  );
});

test("dot_interaction: extents outside the arrays are errors naming the array", () => {
  const xs = [new Float32Array(4), new Float32Array(3)];
  assert.throws(
    () => dot_interaction_fwd(2, 2, 2, false, xs, new Float32Array(6), 0),
    (e: unknown) =>
      e instanceof KernelError &&
      /dot_interaction_fwd: xs\[1\] needs 4 elements from offset 0 but the array has 3/.test(e.message),
  );
  const ok = [new Float32Array(4), new Float32Array(4)];
  assert.throws(
    () => dot_interaction_fwd(2, 2, 2, false, ok, new Float32Array(5), 0),
    (e: unknown) =>
      e instanceof KernelError &&
      /dot_interaction_fwd: out needs 6 elements from offset 0 but the array has 5/.test(e.message),
  );
});

test.run();
