// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
// counter-based generator behind PyTorch's CUDA generator and JAX's default: a keyed bijection
// of a 128-bit counter. Element i of a stream is a pure function of (key, i), so any thread
// can produce any range of a stream without producing what comes before it. That is what lets
// every rank initialise its own rows of a table, in place and in parallel, and still give the
// same model bit for bit for any number of ranks and any row split (docs/parallelism.md).
//
// One round maps the counter words (c0, c1, c2, c3) with the key (k0, k1) to
//   (hi(M1·c2) ^ c1 ^ k0,  lo(M1·c2),  hi(M0·c0) ^ c3 ^ k1,  lo(M0·c0))
// and bumps the key by the Weyl constants (W0, W1) between rounds; ten rounds.
// hi/lo are the two 32-bit halves of the 64-bit product.
//
// The rounds themselves are in src/kernels/ref.ts (philox_rounds), beside philox_uniform, the
// reference of the wasm kernel that fills tables (kernels/philox.wat).
//
// Glossary: c counter words, k key words, M multipliers, W Weyl increments.

import { kernels } from "../kernels/index.ts";
import { philox_round_keys, philox_rounds } from "../kernels/ref.ts";

/**
 * Philox-4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1), written into out[0..4).
 * Every word is an unsigned 32-bit integer.
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): Uint32Array {
  philox_rounds(c0, c1, c2, c3, philox_round_keys(k0 >>> 0, k1 >>> 0), out);
  return out;
}

/** A stream's key from a seed and a name (FNV-1a of the name's UTF-16 code units, 32 bits). */
export function streamKey(seed: number, name: string): [number, number] {
  if (!Number.isInteger(seed)) throw new Error(`streamKey: the seed must be an integer, got ${seed}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return [seed >>> 0, h];
}

const TWO_POW_32 = 4294967296;

/**
 * Fill out[j] with uniform values in [lo, hi) for the stream elements first + j. Element i is
 * word i mod 4 of the block at counter floor(i / 4) (the counter's low and high words carry
 * the block number, so streams of up to 2^64 blocks never wrap); its top 24 bits make a float
 * in [0, 1), exactly representable in float32.
 */
export function fillUniform(
  out: Float32Array | Float64Array,
  key: readonly [number, number],
  first: number,
  lo: number,
  hi: number,
): void {
  checkFirst("fillUniform", first);
  const n = out.length;
  kernels.philox_uniform(n, n, n, out, 0, first, key[0] >>> 0, key[1] >>> 0, lo, hi);
}

/**
 * fillUniform's values for the stream elements first + j, j < rows · width, written in rows
 * of width every ld elements of out (row k from out[k · ld]): a table's weights drawn straight
 * into records that also hold the row's optimizer state (src/dlrm/store/).
 */
export function fillUniformRows(
  out: Float32Array,
  key: readonly [number, number],
  first: number,
  rows: number,
  width: number,
  ld: number,
  lo: number,
  hi: number,
): void {
  checkFirst("fillUniformRows", first);
  if (rows === 0) return;
  if (!(width >= 1 && ld >= width && (rows - 1) * ld + width <= out.length))
    throw new Error(`fillUniformRows: ${rows} rows of ${width} every ${ld} do not fit in ${out.length} elements`);
  kernels.philox_uniform(rows * width, width, ld, out, 0, first, key[0] >>> 0, key[1] >>> 0, lo, hi);
}

/**
 * Fill out[j] with normal values (mean, std) for the stream elements first + j. Element i comes
 * from the block at counter i by Box–Muller in float64 on its first two words (u1 in (0, 1],
 * so the logarithm is finite), one value per block, so each element stands alone.
 */
export function fillNormal(
  out: Float32Array | Float64Array,
  key: readonly [number, number],
  first: number,
  mean: number,
  std: number,
): void {
  checkFirst("fillNormal", first);
  const block = new Uint32Array(4);
  const keys = philox_round_keys(key[0] >>> 0, key[1] >>> 0);
  for (let j = 0; j < out.length; j++) {
    const i = first + j;
    philox_rounds(i % TWO_POW_32, Math.floor(i / TWO_POW_32), 0, 0, keys, block);
    const u1 = 1 - (block[0] >>> 8) / 16777216;
    const u2 = (block[1] >>> 8) / 16777216;
    out[j] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

function checkFirst(op: string, first: number): void {
  if (!Number.isSafeInteger(first) || first < 0)
    throw new Error(`${op}: the first element must be a non-negative safe integer, got ${first}`);
}
