// DLRM with quantized tables (src/interop/quantized/quantized.ts): for plain tables (sum and mean
// pooling, per-lookup weights, learned pooling weights), QR halves and MD tables, at 8 and 4 bits, the quantized model
// predicts exactly what the float32 model predicts once its tables are replaced by their
// dequantized values (so its only error is the tables' quantization error, bounded in
// test/kernels/fused_rows.test.ts), and close to the float32 model itself; its tables take
// the bytes fbgemm's layouts say (4E/(E+8) and 4E/(ceil(E/2)+4) times fewer); a quantized
// checkpoint written and read back predicts the same bits, and a wrong one is refused naming
// the tensor.
//
// Glossary: E embedding dim, R rows, B batch.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { batchOf } from "../../../src/data/batch.ts";
import { parseConfig, type DLRMConfig } from "../../../src/dlrm/config.ts";
import { DLRM } from "../../../src/dlrm/model.ts";
import {
  floatTableBytes,
  loadQuantizedCheckpoint,
  QuantizedDLRM,
  QUANTIZED_KEY,
} from "../../../src/interop/quantized/quantized.ts";
import { noGrad } from "../../../src/autograd/tape.ts";
import { writeSafetensors } from "../../../src/io/safetensors.ts";
import { dequantizeRows, fusedRowBytes, type QuantBits } from "../../../src/kernels/fused_rows.ts";
import { interactionWidth } from "../../../src/ops/interaction.ts";
import { assertThrows } from "../../../src/testing/index.ts";
import { tempDir } from "../../helpers/cli.ts";
import { bagsDataset } from "../../parallel/hybrid_helpers.ts";

function config(o: {
  tables: number[];
  E: number;
  pooling?: "sum" | "mean";
  qr?: DLRMConfig["qr"];
  md?: DLRMConfig["md"];
  learned?: boolean;
}): DLRMConfig {
  return parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 5, o.E],
    embedding_dim: o.E,
    table_sizes: o.tables,
    top_mlp: [interactionWidth(o.E, o.tables.length, "dot", false), 4, 1],
    pooling: o.pooling ?? "sum",
    ...(o.qr ? { qr: o.qr } : {}),
    ...(o.md ? { md: o.md } : {}),
    ...(o.learned ? { weighted_pooling: "learned" } : {}),
  });
}

const CASES: [string, DLRMConfig][] = [
  ["plain, sum", config({ tables: [30, 7, 300], E: 16 })],
  ["plain, mean, odd E", config({ tables: [30, 7, 300], E: 5, pooling: "mean" })],
  ["QR (mult)", config({ tables: [30, 1000], E: 8, qr: { threshold: 100, collisions: 4, operation: "mult" } })],
  ["MD", config({ tables: [30, 2000], E: 8, md: { temperature: 0.3, threshold: 0, round_dims: false } })],
  ["learned weighted pooling (v_W_l)", config({ tables: [30, 7, 300], E: 16, learned: true })],
];

function data(c: DLRMConfig, n: number) {
  return bagsDataset({
    n,
    denseFeatures: c.dense_features,
    tableSizes: c.table_sizes,
    maxBag: 4,
    weighted: c.table_sizes.map((_, t) => t === 0), // per-lookup weights on table 0
    seed: 5,
  });
}

test("quantized DLRM = the float32 DLRM on the dequantized tables, bit for bit (plain, mean, weights, QR, MD; 8 and 4 bits)", () => {
  for (const [name, c] of CASES) {
    for (const bits of [8, 4] as const) {
      const m = new DLRM(c, 3);
      const q = QuantizedDLRM.fromModel(m, bits);
      const twin = new DLRM(c, 3);
      twin.tables.pieces.forEach((p, i) => {
        const w = twin.pieceWeights[i]?.data as Float32Array;
        w.set(dequantizeRows(bits, q.tables[i]?.data as Uint8Array, p.rows, p.dim));
      });
      const batch = batchOf(data(c, 64), 0, 64);
      const got = q.forward(batch).data;
      const want = noGrad(() => twin.forward(batch)).data;
      for (let i = 0; i < got.length; i++)
        if (!Object.is(got[i], want[i])) throw new Error(`${name}, int${bits}: sample ${i}: ${got[i]} vs ${want[i]}`);
      // and close to the float32 model itself
      const exact = noGrad(() => m.forward(batch)).data;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (exact[i] as number)));
      assert.ok(worst < (bits === 8 ? 1e-2 : 1e-1), `${name}, int${bits}: predictions differ by up to ${worst}`);
      assert.ok(worst > 0, `${name}, int${bits}: quantization changed nothing?`);
    }
  }
});

test("quantized tables: R·(E+8) and R·(ceil(E/2)+4) bytes: at E = 64 3.6× and 7.1× smaller than float32", () => {
  const c = config({ tables: [1000, 500, 20], E: 64 });
  const m = new DLRM(c, 1);
  assert.is(floatTableBytes(m), 4 * 64 * 1520);
  for (const bits of [8, 4] as const) {
    const q = QuantizedDLRM.fromModel(m, bits);
    assert.is(q.tableBytes(), 1520 * fusedRowBytes(bits, 64));
    assert.is(q.tableBytes(), 1520 * (bits === 8 ? 72 : 36));
  }
  assert.ok(floatTableBytes(m) / QuantizedDLRM.fromModel(m, 8).tableBytes() > 3.5);
  assert.ok(floatTableBytes(m) / QuantizedDLRM.fromModel(m, 4).tableBytes() > 7);
});

test("quantized checkpoint: written and read back, it predicts the same bits; wrong dtype, shape or layout are named", () => {
  const t = tempDir();
  try {
    for (const [name, c] of CASES) {
      for (const bits of [8, 4] as const) {
        const q = QuantizedDLRM.fromModel(new DLRM(c, 4), bits);
        const path = join(t.dir, "q.safetensors");
        writeSafetensors(path, new Map(q.checkpointTensors()), q.checkpointMetadata());
        const back = loadQuantizedCheckpoint(path, c);
        const batch = batchOf(data(c, 32), 0, 32);
        assert.equal(Array.from(back.forward(batch).data), Array.from(q.forward(batch).data), `${name}, int${bits}`);
      }
    }
    const [, c] = CASES[0] as [string, DLRMConfig];
    const q = QuantizedDLRM.fromModel(new DLRM(c, 4), 8);
    const path = join(t.dir, "bad.safetensors");
    const tensors = new Map(q.checkpointTensors());
    // a table's rows written at the int4 width under int8 metadata
    tensors.set("emb_l.2.weight", { dtype: "U8", shape: [300, fusedRowBytes(4, 16)], data: new Uint8Array(300 * 12) });
    writeSafetensors(path, tensors, q.checkpointMetadata());
    assertThrows(
      () => loadQuantizedCheckpoint(path, c),
      /tensor "emb_l.2.weight" is U8 \(300, 12\) but the model at 8 bits expects U8 \(300, 24\) \(300 rows of 24 bytes: dim 16\)/,
    );
    // a float table where U8 rows belong
    tensors.set("emb_l.2.weight", { dtype: "F32", shape: [300, 16], data: new Float32Array(300 * 16) });
    writeSafetensors(path, tensors, q.checkpointMetadata());
    assertThrows(
      () => loadQuantizedCheckpoint(path, c),
      /tensor "emb_l.2.weight" is F32 \(300, 16\) but .* expects U8/,
    );
    // a row whose scale is NaN
    const nan = new Uint8Array(300 * 24);
    new DataView(nan.buffer).setFloat32(5 * 24 + 16, NaN, true); // row 5's scale
    tensors.set("emb_l.2.weight", { dtype: "U8", shape: [300, 24], data: nan });
    writeSafetensors(path, tensors, q.checkpointMetadata());
    assertThrows(
      () => loadQuantizedCheckpoint(path, c),
      /emb_l\.2\.weight: row 5 has scale NaN and bias 0; both must be finite/,
    );
    writeSafetensors(path, new Map(q.checkpointTensors()), { [QUANTIZED_KEY]: '{"bits":8,"layout":"gptq"}' });
    assertThrows(() => loadQuantizedCheckpoint(path, c), /names no layout we read/);
  } finally {
    t.cleanup();
  }
});

test("quantizing a table with a NaN names the table piece and the row", () => {
  const [, c] = CASES[2] as [string, DLRMConfig]; // QR
  const m = new DLRM(c, 2);
  (m.pieceWeights[2]?.data as Float32Array)[3 * 8 + 1] = NaN; // emb_l.1.weight_r row 3
  for (const bits of [8, 4] as QuantBits[])
    assertThrows(
      () => QuantizedDLRM.fromModel(m, bits),
      /table 1 \(remainder\) \(emb_l\.1\.weight_r\): row 3 holds NaN at column 1/,
    );
});

test.run();
