// PyTorch as the oracle for fbgemm's fused row-wise quantization, through the fixture
// test/fixtures/quantized/make.py wrote once with torch 1.13 (its docstring lists the cases:
// E = 1, odd E = 7 (int8 only: torch's 4-bit prepack refuses odd E), exact .5 ties, constant
// and all-zero rows, negative, large and tiny ranges, a min that is not an fp16 value, rows
// beyond fp16's range). Checked here:
//   - quantizeRows gives the bytes of torch.ops.quantized.embedding_bag_byte_prepack and
//     embedding_bag_4bit_prepack bit for bit, every case of both layouts;
//   - dequantizeRows gives embedding_bag_byte_unpack / embedding_bag_4bit_unpack bit for bit;
//   - the quantized bag forward, as the wasm kernel, its TS twin and the op quantizedEmbeddingBag,
//     on torch's bytes, equals torch's embedding_bag_byte_rowwise_offsets /
//     embedding_bag_4bit_rowwise_offsets (sum, with and without per-lookup weights) and the
//     float embedding bag's mean over torch's unpacked table (torch's quantized ops ignore
//     their mode argument), within TOL below, empty bag included;
//   - rows beyond fp16: torch writes an int4 row with an infinite scale; we refuse to write one
//     (QuantizeError) and refuse to read torch's (a non-finite scale).
//
// Tolerance of the bags: torch pools out = fma(w·s, q, out + w·β) per lookup, we pool
// w·f32(f32(q·s) + β), so each term is rounded differently (a few float32 roundings each) and
// the sums drift apart by at most about (L + 4) units of 2⁻²⁴ of M = Σ_l |w_l|·(|q_l·s_l| + |β_l|)
// (L lookups in the bag); TOL is twice that, (L + 4)·2⁻²³·M per element, divided by L for the
// mean. The largest difference seen is printed; it is far below TOL.
//
// Glossary: R rows, E row length, B bags, L lookups, s a row's scale, β its bias, q a quantized value.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import {
  dequantizeRows,
  fusedRowBytes,
  QuantizeError,
  quantizeRows,
  rowScaleBias,
  rowValue,
  type QuantBits,
} from "../../src/kernels/fused_rows.ts";
import * as ref from "../../src/kernels/ref.ts";
import { POOL_MEAN, POOL_SUM } from "../../src/kernels/ref.ts";
import { embedding_bag_fwd_quantized } from "../../src/kernels/wasm.ts";
import { readSafetensors, type SafetensorsTensor } from "../../src/io/safetensors.ts";
import { quantizedEmbeddingBag, quantizedTable } from "../../src/interop/quantized/quantized_embedding_bag.ts";
import { OpError } from "../../src/tensor/shape.ts";
import { fromArray, indexTensor } from "../../src/tensor/tensor.ts";

const fixture = new URL("../fixtures/quantized/quantized.safetensors", import.meta.url).pathname;
const tensors = readSafetensors(fixture).tensors;

function get(name: string): SafetensorsTensor {
  const t = tensors.get(name);
  if (t === undefined) throw new Error(`${fixture}: no tensor ${name}`);
  return t;
}

/** The case's float32 table and its shape. */
function table(c: string): { x: Float32Array; R: number; E: number } {
  const t = get(`table.${c}`);
  return { x: t.data as Float32Array, R: t.shape[0] as number, E: t.shape[1] as number };
}

// every case the fixture has, so that a regenerated fixture cannot drop one unnoticed
const CASES = ["e1", "e7", "e8ties", "e16", "e34"];
const BAGGED = CASES; // fp16out has no bags
test("the fixture holds the cases make.py writes (int4 only for even E)", () => {
  const got = [...tensors.keys()].filter((k) => k.startsWith("table.")).map((k) => k.slice(6));
  assert.equal(got.sort(), [...CASES, "fp16out"].sort());
  for (const c of CASES) assert.is(tensors.has(`int4.${c}`), table(c).E % 2 === 0, `int4.${c}`);
});

/** The case's layouts torch prepacked. */
function layouts(c: string): QuantBits[] {
  return ([8, 4] as const).filter((bits) => tensors.has(`int${bits}.${c}`));
}

test("quantizeRows = torch's embedding_bag_byte_prepack / embedding_bag_4bit_prepack, bit for bit", () => {
  let compared = 0;
  for (const c of [...CASES, "fp16out"]) {
    const { x, R, E } = table(c);
    for (const bits of layouts(c)) {
      if (c === "fp16out" && bits === 4) continue; // torch's unusable rows: the last test
      const torch = get(`int${bits}.${c}`);
      assert.equal(torch.shape, [R, fusedRowBytes(bits, E)], `int${bits}.${c} shape`);
      const ours = quantizeRows(bits, x, R, E, c);
      const theirs = torch.data as Uint8Array;
      const rb = fusedRowBytes(bits, E);
      for (let i = 0; i < ours.length; i++)
        if (ours[i] !== theirs[i]) {
          const r = Math.floor(i / rb);
          assert.unreachable(
            `int${bits} ${c}: row ${r} byte ${i % rb}: ours ${ours[i]}, torch ${theirs[i]}; row [${Array.from(x.subarray(r * E, (r + 1) * E)).join(", ")}]`,
          );
        }
      compared += ours.length;
    }
  }
  assert.ok(compared >= 1000, `bytes compared: ${compared}`);
});

test("the ties case has exact .5 ties in both layouts (what makes it test lrintf's ties to even)", () => {
  // t = (x − β)·inverse as the quantizer forms it (fused_rows.ts's head), in float32
  const f = Math.fround;
  const { x, R, E } = table("e8ties");
  for (const bits of [8, 4] as const) {
    const fused = get(`int${bits}.e8ties`).data as Uint8Array;
    const rb = fusedRowBytes(bits, E);
    let ties = 0;
    for (let r = 0; r < R; r++) {
      const row = x.subarray(r * E, (r + 1) * E);
      const [s, b] = rowScaleBias(bits, fused, r * rb, E);
      const inverse = bits === 8 ? f(255 / f(f(Math.max(...row) - Math.min(...row)) + f(1e-8))) : f(1 / s);
      for (let e = 0; e < E; e++) {
        const t = f(f((row[e] as number) - b) * inverse);
        if (t - Math.floor(t) !== 0.5) continue;
        ties++;
        const q = rowValue(bits, fused, r * rb, e);
        assert.is(q % 2, 0, `int${bits} row ${r} col ${e}: t = ${t} went to odd ${q}`);
      }
    }
    assert.ok(ties >= 15, `int${bits}: only ${ties} ties`);
  }
});

test("dequantizeRows = torch's embedding_bag_byte_unpack / embedding_bag_4bit_unpack, bit for bit", () => {
  for (const c of CASES) {
    const { R, E } = table(c);
    for (const bits of layouts(c)) {
      const ours = dequantizeRows(bits, get(`int${bits}.${c}`).data as Uint8Array, R, E);
      const theirs = get(`deq${bits}.${c}`).data as Float32Array;
      for (let i = 0; i < ours.length; i++)
        if (!Object.is(ours[i], theirs[i]))
          assert.unreachable(`int${bits} ${c}: element ${i}: ours ${ours[i]}, torch ${theirs[i]}`);
    }
  }
});

/** M = Σ_l |w_l|·(|q·s| + |β|) per output element (float64), from the fused rows. */
function magnitudes(
  bits: QuantBits,
  fused: Uint8Array,
  E: number,
  ids: Int32Array,
  offs: Int32Array,
  w: Float32Array | null,
): Float64Array {
  const B = offs.length - 1;
  const rb = fusedRowBytes(bits, E);
  const m = new Float64Array(B * E);
  for (let b = 0; b < B; b++)
    for (let l = offs[b] as number; l < (offs[b + 1] as number); l++) {
      const row = (ids[l] as number) * rb;
      const [s, beta] = rowScaleBias(bits, fused, row, E);
      const wl = w === null ? 1 : Math.abs(w[l] as number);
      for (let e = 0; e < E; e++) m[b * E + e] += wl * (Math.abs(rowValue(bits, fused, row, e) * s) + Math.abs(beta));
    }
  return m;
}

test("the quantized bag (wasm kernel, TS twin, op) = torch's rowwise_offsets ops (sum, weighted sum) and mean, within TOL", () => {
  let worst = 0; // the largest |ours − torch| / TOL seen
  let exact = 0;
  let total = 0;
  for (const c of BAGGED) {
    const { R, E } = table(c);
    const ids = get(`indices.${c}`).data as Int32Array;
    const offs = get(`offsets.${c}`).data as Int32Array;
    const weights = get(`weights.${c}`).data as Float32Array;
    const B = offs.length - 1;
    assert.ok(
      offs.some((o, b) => b > 0 && o === offs[b - 1]),
      `${c}: an empty bag`,
    );
    for (const bits of layouts(c)) {
      const fused = get(`int${bits}.${c}`).data as Uint8Array;
      const qt = quantizedTable(bits, R, E, fused, c);
      const runs = [
        { name: "sum", mode: POOL_SUM, w: null },
        { name: "wsum", mode: POOL_SUM, w: weights },
        { name: "mean", mode: POOL_MEAN, w: null },
      ] as const;
      for (const { name, mode, w } of runs) {
        const want = get(`${name}${bits}.${c}`).data as Float32Array;
        assert.is(want.length, B * E, `${name}${bits}.${c}`);
        const twin = new Float32Array(B * E);
        ref.embedding_bag_fwd_quantized(B, E, mode, bits, fused, 0, ids, offs, w, twin, 0);
        const wasm = new Float32Array(B * E);
        embedding_bag_fwd_quantized(B, E, mode, bits, fused, 0, ids, offs, w, wasm, 0);
        const op = quantizedEmbeddingBag(qt, indexTensor(ids), indexTensor(offs), {
          mode: mode === POOL_MEAN ? "mean" : "sum",
          perSampleWeights: w === null ? null : fromArray(w),
        }).data as Float32Array;
        const m = magnitudes(bits, fused, E, ids, offs, w);
        for (let b = 0; b < B; b++) {
          const L = (offs[b + 1] as number) - (offs[b] as number);
          for (let e = 0; e < E; e++) {
            const i = b * E + e;
            const tol = ((L + 4) * 2 ** -23 * (m[i] as number)) / (mode === POOL_MEAN ? Math.max(L, 1) : 1);
            const t = want[i] as number;
            for (const [who, got] of [
              ["twin", twin],
              ["wasm", wasm],
              ["op", op],
            ] as const) {
              const g = got[i] as number;
              const d = Math.abs(g - t);
              if (!(d <= tol))
                assert.unreachable(
                  `int${bits} ${c} ${name} (${who}): bag ${b} (L = ${L}) col ${e}: ours ${g}, torch ${t}, |Δ| ${d} > ${tol}`,
                );
              if (tol > 0) worst = Math.max(worst, d / tol);
            }
            if (L === 0) assert.is(t, 0, "torch's empty bag");
            total++;
            if (Object.is(twin[i], t)) exact++;
          }
        }
      }
    }
  }
  console.log(
    `  quantized bags vs torch: ${exact}/${total} elements equal bit for bit; largest |Δ| is ${worst.toFixed(3)} of TOL`,
  );
});

test("rows beyond fp16: torch's int4 prepack writes an infinite scale; ours refuses to write such a row, and to read torch's", () => {
  const { x, R, E } = table("fp16out");
  const theirs = get("int4.fp16out").data as Uint8Array;
  for (let r = 0; r < R; r++) {
    const [s] = rowScaleBias(4, theirs, r * fusedRowBytes(4, E), E);
    assert.is(s, Infinity, `torch's scale of row ${r}`);
    assert.throws(
      () => quantizeRows(4, x.subarray(r * E, (r + 1) * E), 1, E, "fp16out"),
      (e: unknown) => e instanceof QuantizeError && /beyond fp16's ±65504/.test(e.message),
    );
  }
  assert.throws(
    () => quantizedTable(4, R, E, theirs, "fp16out"),
    (e: unknown) =>
      e instanceof OpError && /fp16out: row 0 has scale Infinity and bias 0; both must be finite/.test(e.message),
  );
});

test.run();
