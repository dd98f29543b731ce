// The quantized embedding-bag forward (kernels/quantized_bag.wat) against the float32 one
// (kernels/embedding_bag.wat) on the same table: R = 1M rows of E = 16 and 64, B = 2048 bags of
// 1 or 32 uniformly random ids, sum pooling, no weights, everything resident in wasm memory.
// Per case: the median call after warm-up, as ns per lookup and as GB/s of the bytes the call
// must move (the rows gathered, at each layout's row size, the output, the indices and offsets).
//
//   node --import tsx bench/quantized_bag.bench.ts [--seconds 1]
//
// Prints a Markdown table (stderr) and one JSON line (stdout).
//
// Glossary: R rows, E embedding dim, B bags, L lookups.

import { setFlagsFromString } from "node:v8";
import { fusedRowBytes, quantizeRows, type QuantBits } from "../src/kernels/fused_rows.ts";
import { defaultHeap, residentF32, residentI32, residentU8 } from "../src/kernels/memory.ts";
import { POOL_SUM } from "../src/kernels/ref.ts";
import { embedding_bag_fwd, embedding_bag_fwd_quantized } from "../src/kernels/wasm.ts";

setFlagsFromString("--no-liftoff");

const args = process.argv.slice(2);
const i = args.indexOf("--seconds");
const seconds = i >= 0 ? Number(args[i + 1]) : 1;
const R = 1 << 20;
const B = 2048;

/** The median time of one call in ms, over about `seconds` after 20 warm-up calls. */
function median(fn: () => void): number {
  for (let k = 0; k < 20; k++) fn();
  const ms: number[] = [];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || ms.length < 10) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)] as number;
}

interface Row {
  E: number;
  perBag: number;
  layout: string;
  rowBytes: number;
  nsPerLookup: number;
  gbs: number;
}

const heap = defaultHeap();
const rows: Row[] = [];
for (const E of [16, 64]) {
  const table = residentF32(heap, R * E);
  for (let k = 0; k < table.length; k++) table[k] = Math.random() - 0.5;
  const fused = new Map<QuantBits, Uint8Array>();
  for (const bits of [8, 4] as const) {
    const q = residentU8(heap, R * fusedRowBytes(bits, E));
    quantizeRows(bits, table, R, E, "bench", q);
    fused.set(bits, q);
  }
  for (const perBag of [1, 32]) {
    const L = B * perBag;
    const indices = residentI32(heap, L);
    for (let l = 0; l < L; l++) indices[l] = Math.floor(Math.random() * R);
    const offsets = residentI32(heap, B + 1);
    for (let b = 0; b <= B; b++) offsets[b] = b * perBag;
    const out = residentF32(heap, B * E);
    const add = (layout: string, rowBytes: number, fn: () => void): void => {
      const ms = median(fn);
      const bytes = L * rowBytes + 4 * B * E + 4 * L + 4 * (B + 1);
      rows.push({ E, perBag, layout, rowBytes, nsPerLookup: (ms * 1e6) / L, gbs: bytes / (ms * 1e6) });
    };
    add("float32", 4 * E, () => embedding_bag_fwd(B, E, POOL_SUM, table, 0, indices, offsets, null, out, 0));
    for (const bits of [8, 4] as const)
      add(`int${bits}`, fusedRowBytes(bits, E), () =>
        embedding_bag_fwd_quantized(
          B,
          E,
          POOL_SUM,
          bits,
          fused.get(bits) as Uint8Array,
          0,
          indices,
          offsets,
          null,
          out,
          0,
        ),
      );
  }
}

const md = [
  "| table | lookups per bag | layout | bytes per row | ns per lookup | GB/s moved |",
  "| --- | ---: | --- | ---: | ---: | ---: |",
];
for (const r of rows)
  md.push(
    `| 1M×${r.E} | ${r.perBag} | ${r.layout} | ${r.rowBytes} | ${r.nsPerLookup.toFixed(1)} | ${r.gbs.toFixed(2)} |`,
  );
process.stderr.write(`${md.join("\n")}\n`);
process.stdout.write(`${JSON.stringify({ when: new Date().toISOString(), R, B, seconds, rows })}\n`);
