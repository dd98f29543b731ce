// Embedding-bag benchmarks: tables of R = 1M rows of E = 16 and 64 floats, B = 2048 bags of
// 1 or 32 uniformly random ids (sum pooling, no weights), all resident in wasm memory.
//   fwd  wasm SIMD kernel, the naive scalar wasm loop (bench_kernels.wat), the TS reference
//   bwd  wasm SIMD kernel (the row-sparse gradient: U unique rows, summed per id)
// Bytes per call (the least traffic the work needs):
//   fwd  L·E·4 gathered + B·E·4 written + L·4 indices + (B+1)·4 offsets
//   bwd  B·E·4 dout read + 2·L·E·4 gradient rows read and written + L·4 slots
// compared with the triad bandwidth of arrays at least as big as the working set (the table
// for fwd, the gradient rows for bwd), so a table that fits in a cache meets a cache's
// bandwidth, not DRAM's.
//
// Glossary: B bags, E embedding dim, R table rows, L lookups (B × per bag), U unique ids.

import { defaultHeap, residentF32, residentI32 } from "../src/kernels/memory.ts";
import * as ref from "../src/kernels/ref.ts";
import { POOL_SUM } from "../src/kernels/ref.ts";
import { embedding_bag_bwd, embedding_bag_fwd } from "../src/kernels/wasm.ts";
import type { BenchKernels } from "./ceilings.ts";
import type { BenchCase, Probe } from "./report.ts";

export interface EmbeddingOptions {
  R: number;
  B: number;
  dims: readonly number[];
  perBag: readonly number[];
  /** The triad probe whose arrays are at least as big as a working set of `bytes`. */
  triadFor: (bytes: number) => Probe;
  naive: BenchKernels;
  /** Include the TypeScript reference (slow for L = 32). */
  withRef: boolean;
}

export function embeddingCases(opts: EmbeddingOptions): BenchCase[] {
  const heap = defaultHeap();
  const cases: BenchCase[] = [];
  for (const E of opts.dims) {
    const table = residentF32(heap, opts.R * E); // (R, E)
    for (let i = 0; i < table.length; i++) table[i] = Math.random() - 0.5;
    for (const perBag of opts.perBag) {
      const B = opts.B;
      const L = B * perBag;
      const indices = residentI32(heap, L); // (L,)
      for (let l = 0; l < L; l++) indices[l] = Math.floor(Math.random() * opts.R);
      const offsets = residentI32(heap, B + 1); // (B + 1,)
      for (let b = 0; b <= B; b++) offsets[b] = b * perBag;
      const out = residentF32(heap, B * E); // (B, E)
      // the backward's slots: each lookup's unique row
      const slotOf = new Map<number, number>();
      const slots = residentI32(heap, L);
      for (let l = 0; l < L; l++) {
        const id = indices[l] as number;
        let s = slotOf.get(id);
        if (s === undefined) slotOf.set(id, (s = slotOf.size));
        slots[l] = s;
      }
      const U = slotOf.size;
      const grad = residentF32(heap, U * E); // (U, E)
      const dout = residentF32(heap, B * E).fill(1e-3); // (B, E)
      const fwdBytes = 4 * (L * E + B * E + L + B + 1);
      const bwdBytes = 4 * (B * E + 2 * L * E + L);
      const rows = opts.R % (1 << 20) === 0 ? `${opts.R / (1 << 20)}M` : String(opts.R); // 1M = 2²⁰
      const shape = `${rows}×${E} B=${B} L/bag=${perBag}`;
      const meta = { R: opts.R, E, B, perBag };
      const fwdCeiling = opts.triadFor(4 * opts.R * E); // the table
      const bwdCeiling = opts.triadFor(4 * U * E); // the gradient rows
      cases.push({
        name: `fwd ${shape} wasm`,
        fn: () => embedding_bag_fwd(B, E, POOL_SUM, table, 0, indices, offsets, null, out, 0),
        work: fwdBytes,
        unit: "GB/s",
        ceiling: fwdCeiling,
        meta: { ...meta, pass: "fwd", kernels: "wasm" },
      });
      const tableP = heap.addressOf(table);
      const idxP = heap.addressOf(indices);
      const offP = heap.addressOf(offsets);
      const outP = heap.addressOf(out);
      if (tableP === null || idxP === null || offP === null || outP === null)
        throw new Error("bench arrays must be resident");
      cases.push({
        name: `fwd ${shape} naive scalar wasm`,
        fn: () => opts.naive.embedding_bag_sum_naive(B, E, tableP, idxP, offP, outP),
        work: fwdBytes,
        unit: "GB/s",
        ceiling: fwdCeiling,
        meta: { ...meta, pass: "fwd", kernels: "naive wasm" },
      });
      if (opts.withRef) {
        cases.push({
          name: `fwd ${shape} js reference`,
          fn: () => ref.embedding_bag_fwd(B, E, POOL_SUM, table, 0, indices, offsets, null, out, 0),
          work: fwdBytes,
          unit: "GB/s",
          ceiling: fwdCeiling,
          meta: { ...meta, pass: "fwd", kernels: "js" },
        });
      }
      cases.push({
        name: `bwd ${shape} wasm (U=${U})`,
        fn: () => embedding_bag_bwd(B, E, POOL_SUM, dout, 0, offsets, slots, null, grad, 0),
        work: bwdBytes,
        unit: "GB/s",
        ceiling: bwdCeiling,
        meta: { ...meta, U, pass: "bwd", kernels: "wasm" },
      });
    }
  }
  return cases;
}
