// assertClose: torch.testing.assert_close's rule and messages for this library's tensors
// and plain arrays. An element passes when |actual − expected| ≤ atol + rtol·|expected|, or
// when both are the same infinity, or (with equalNan) both are NaN. On failure the error
// says how many elements mismatch, the greatest absolute and relative differences and where
// (as a multi-index), and the tolerances, in PyTorch's words, so a reader of either knows it.
//
// Defaults follow PyTorch by dtype: float32 rtol 1.3e-6, atol 1e-5; float64 (and plain
// number arrays, like Python floats) rtol 1e-7, atol 1e-7. As in PyTorch, give both
// tolerances or neither.

import { Tensor } from "../tensor/tensor.ts";

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Whether NaN equals NaN (default false, as torch's equal_nan). */
  equalNan?: boolean;
}

type Closeable = Tensor | ArrayLike<number> | number;

const float32Tol: Tolerance = { rtol: 1.3e-6, atol: 1e-5 };
const float64Tol: Tolerance = { rtol: 1e-7, atol: 1e-7 };

function isFloat32(x: Closeable): boolean {
  return x instanceof Float32Array || (x instanceof Tensor && x.dtype === "float32");
}

function valuesOf(x: Closeable): ArrayLike<number> {
  if (typeof x === "number") return [x];
  return x instanceof Tensor ? x.data : x;
}

function shapeOf(x: Closeable): readonly number[] {
  if (typeof x === "number") return [];
  return x instanceof Tensor ? x.shape : [x.length];
}

/** Python's repr of a tuple index: (3,) or (1, 2). */
function indexRepr(flat: number, shape: readonly number[]): string {
  const idx: number[] = [];
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    idx.unshift(rest % n);
    rest = Math.floor(rest / n);
  }
  return idx.length === 1 ? `(${idx[0]},)` : `(${idx.join(", ")})`;
}

/** Python-like float formatting (1.0, 1e-05, 0.5). */
function num(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e16)) {
    const [m, e] = x.toExponential().split("e") as [string, string];
    const exp = Number(e);
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(x);
}

/**
 * Throws unless actual and expected are close elementwise (see the file header). `what`
 * names the compared values in the message (PyTorch's default: "Tensor-likes", "Scalars").
 */
export function assertClose(actual: Closeable, expected: Closeable, opts: CloseOptions = {}, what?: string): void {
  if ((opts.atol === undefined) !== (opts.rtol === undefined)) {
    const given = opts.atol === undefined ? `rtol=${opts.rtol}` : `atol=${opts.atol}`;
    throw new Error(
      `Both 'rtol' and 'atol' must be either specified or omitted, but got no ${opts.atol === undefined ? "atol" : "rtol"} and ${given}.`,
    );
  }
  const defaults = isFloat32(actual) || isFloat32(expected) ? float32Tol : float64Tol;
  const rtol = opts.rtol ?? defaults.rtol;
  const atol = opts.atol ?? defaults.atol;
  const equalNan = opts.equalNan ?? false;
  const a = valuesOf(actual);
  const e = valuesOf(expected);
  const shape = shapeOf(actual);
  const eShape = shapeOf(expected);
  if (
    a.length !== e.length ||
    (actual instanceof Tensor && expected instanceof Tensor && shape.join() !== eShape.join())
  ) {
    throw new Error(
      `${what ?? "Tensor-likes"}: The values for attribute 'shape' do not match: (${shape.join(", ")}) != (${eShape.join(", ")}).`,
    );
  }
  let mismatches = 0;
  let maxAbs = 0;
  let maxAbsAt = 0;
  let maxRel = 0;
  let maxRelAt = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = e[i];
    const diff = Math.abs(x - y);
    // A non-finite value is close only to itself (torch.isclose), not within an infinite tolerance.
    const close =
      x === y ||
      (Number.isFinite(x) && Number.isFinite(y) && diff <= atol + rtol * Math.abs(y)) ||
      (equalNan && Number.isNaN(x) && Number.isNaN(y));
    if (close) continue;
    mismatches++;
    // NaN differences count as the greatest, as torch.max does.
    const d = Number.isNaN(diff) ? Infinity : diff;
    const r = d / Math.abs(y);
    if (mismatches === 1 || d > maxAbs) [maxAbs, maxAbsAt] = [Number.isNaN(diff) ? NaN : d, i];
    if (mismatches === 1 || r > maxRel) [maxRel, maxRelAt] = [Number.isNaN(diff) ? NaN : r, i];
  }
  if (mismatches === 0) return;
  const equality = rtol === 0 && atol === 0;
  const allowed = (tol: number): string => (equality ? "" : ` (up to ${num(tol)} allowed)`);
  const scalar = typeof actual === "number" || (actual instanceof Tensor && actual.shape.length === 0);
  const head = `${what ?? (scalar ? "Scalars" : "Tensor-likes")} are not ${equality ? "equal" : "close"}!\n\n`;
  if (scalar) {
    throw new Error(
      `${head}Expected ${num(e[0])} but got ${num(a[0])}.\n` +
        `Absolute difference: ${num(maxAbs)}${allowed(atol)}\nRelative difference: ${num(maxRel)}${allowed(rtol)}`,
    );
  }
  const pct = ((100 * mismatches) / a.length).toFixed(1);
  throw new Error(
    `${head}Mismatched elements: ${mismatches} / ${a.length} (${pct}%)\n` +
      `Greatest absolute difference: ${num(maxAbs)} at index ${indexRepr(maxAbsAt, shape)}${allowed(atol)}\n` +
      `Greatest relative difference: ${num(maxRel)} at index ${indexRepr(maxRelAt, shape)}${allowed(rtol)}`,
  );
}
