// Tensor: a dense, row-major, contiguous array of float32 (or float64) with a shape, and
// the fields reverse-mode autodiff needs. IndexTensor: the Int32Array that ops such as
// embeddingBag and indexSelect take for row ids.
//
// float64 exists for checking: gradcheck runs a function in float64 so that central
// differences are accurate. Models and kernels use float32.

import type { AutogradHooks, BackwardOptions, Node } from "./graph.ts";
import { allocFloat } from "./storage.ts";
import { defaultRng, type Rng } from "./rng.ts";
import { checkShape, formatShape, OpError, sizeOf, type Shape } from "./shape.ts";

export type { DType, FloatArray, RowSparseGrad } from "./types.ts";
import type { DType, FloatArray, RowSparseGrad } from "./types.ts";

let writeClock = 0;

/** The write clock now: a node recorded now is stale once any of its tensors carries a later stamp. */
export function writeClockNow(): number {
  return writeClock;
}

let autograd: AutogradHooks | null = null;

/** Called once by src/autograd/tape.ts when it loads: what backward() and clone() run. */
export function setAutogradHooks(hooks: AutogradHooks): void {
  autograd = hooks;
}

/** The autograd layer's hooks; it is loaded by every op, so only code that ran no op can lack them. */
function hooks(what: string): AutogradHooks {
  if (autograd === null)
    throw new OpError(what, "the autograd layer (src/autograd/tape.ts) is not loaded: import an op or the package");
  return autograd;
}

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly data: FloatArray;
  /** Whether gradients flow to this tensor. Set on leaves by the user, on results by ops. */
  requiresGrad: boolean;
  /** Dense gradient, same size as data, accumulated by backward(). */
  grad: FloatArray | null = null;
  /** Row-sparse gradient of a leaf that was only read by row. */
  rowGrad: RowSparseGrad | null = null;
  /** The op that made this tensor and its backward, until backward() releases it. */
  node: Node | null = null;
  /** Name of the op that made this tensor; kept after the graph is released. */
  fromOp: string | null = null;
  /** Keep .grad on this non-leaf after backward (PyTorch's retain_grad). */
  retainsGrad = false;
  /** For a view (reshape, detach): the tensor that owns the shared data, where writes are stamped. */
  readonly base: Tensor | null;
  #version = 0;

  constructor(data: FloatArray, shape: Shape, requiresGrad = false, viewOf: Tensor | null = null) {
    checkShape("Tensor", shape);
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new OpError("Tensor", `data has ${data.length} elements but shape ${formatShape(shape)} needs ${n}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = data instanceof Float64Array ? "float64" : "float32";
    this.requiresGrad = requiresGrad;
    this.base = viewOf === null ? null : (viewOf.base ?? viewOf);
  }

  /**
   * The stamp of the last in-place write to this tensor's data (0: none); grows with every
   * write, shared by views. backward() refuses a node whose tensors were written after it
   * was recorded (see autograd/tape.ts).
   */
  get version(): number {
    return this.base === null ? this.#version : this.base.version;
  }

  /**
   * Record an in-place write to data. The library's writers (optimizer steps, loading a
   * state dict) call it; code that writes t.data directly should too, or a pending backward
   * cannot know the values it saved changed.
   */
  markModified(): void {
    if (this.base !== null) this.base.markModified();
    else this.#version = ++writeClock;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A leaf is a tensor no op produced (parameters, inputs). */
  get isLeaf(): boolean {
    return this.fromOp === null;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new OpError("item", `needs a tensor with one element, got ${formatShape(this.shape)}`);
    }
    return this.data[0];
  }

  /** Reverse-mode autodiff from this tensor; see autograd/tape.ts. */
  backward(gradient?: Tensor | FloatArray, opts?: BackwardOptions): void {
    hooks("backward").backward(this, gradient, opts);
  }

  /** Keep this non-leaf's gradient after backward(). */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /** Clear gradients (dense and row-sparse). */
  zeroGrad(): void {
    this.grad = null;
    this.rowGrad = null;
  }

  /** The same data, cut from the graph: no gradient flows through the result. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false, this);
  }

  /** A copy of the data; differentiable (the gradient passes through unchanged). */
  clone(): Tensor {
    return hooks("clone").clone(this, new Tensor(this.data.slice(), this.shape));
  }

  /** Nested JS arrays of the values (a number for a scalar). */
  toArray(): NestedArray {
    return nest(this.data, this.shape, 0, 0);
  }

  toString(): string {
    const flags = [this.dtype === "float64" ? "dtype=float64" : "", this.requiresGrad ? "requiresGrad" : ""]
      .filter((s) => s !== "")
      .join(", ");
    const head = `Tensor${formatShape(this.shape)}${flags ? ` ${flags}` : ""}`;
    return `${head}\n${formatValues(this.data, this.shape)}`;
  }
}

/** Row ids for embeddingBag / indexSelect: int32 values with a shape. */
export class IndexTensor {
  readonly shape: Shape;
  readonly data: Int32Array;
  constructor(data: Int32Array, shape: Shape = [data.length]) {
    checkShape("IndexTensor", shape);
    if (!(data instanceof Int32Array)) {
      throw new OpError("IndexTensor", `data must be an Int32Array, got ${describeArray(data)}`);
    }
    if (data.length !== sizeOf(shape)) {
      throw new OpError(
        "IndexTensor",
        `data has ${data.length} elements but shape ${formatShape(shape)} needs ${sizeOf(shape)}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }
  get size(): number {
    return this.data.length;
  }
  toString(): string {
    return `IndexTensor${formatShape(this.shape)}\n${formatValues(this.data, this.shape)}`;
  }
}

export type NestedArray = number | NestedArray[];

/** Make an IndexTensor from integers; rejects non-integers and values outside int32. */
export function indexTensor(values: ArrayLike<number> | Int32Array, shape?: Shape): IndexTensor {
  if (values instanceof Int32Array) return new IndexTensor(values, shape ?? [values.length]);
  const data = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new OpError("indexTensor", `value ${v} at position ${i} is not an int32 integer`);
    }
    data[i] = v;
  }
  return new IndexTensor(data, shape ?? [data.length]);
}

// ---------------------------------------------------------------------------------------
// Creation

export function empty(shape: Shape, opts: TensorOptions = {}): Tensor {
  checkShape("empty", shape);
  return new Tensor(allocFloat(opts.dtype ?? "float32", sizeOf(shape)), shape, opts.requiresGrad ?? false);
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return empty(shape, opts); // fresh storage is zero-filled
}

export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const t = empty(shape, opts);
  t.data.fill(value);
  return t;
}

export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/**
 * A tensor from values: nested arrays (`[[1, 2], [3, 4]]`, shape inferred) or a flat
 * array-like with an explicit shape. The values are copied.
 */
export function fromArray(values: NestedArray | ArrayLike<number>, shape?: Shape, opts: TensorOptions = {}): Tensor {
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (typeof values === "number") {
    flat = [values];
    inferred = [];
  } else if (Array.isArray(values)) {
    inferred = inferShape(values);
    flat = values.flat(Infinity as 1) as number[];
  } else {
    flat = values;
    inferred = [values.length];
  }
  const s = shape ?? inferred;
  const t = empty(s, opts);
  if (flat.length !== t.size) {
    throw new OpError("fromArray", `got ${flat.length} values for shape ${formatShape(s)} (${t.size} elements)`);
  }
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== "number") throw new OpError("fromArray", `value at position ${i} is not a number: ${String(v)}`);
    t.data[i] = v;
  }
  return t;
}

/** A scalar (rank-0) tensor. */
export function scalar(value: number, opts: TensorOptions = {}): Tensor {
  return fromArray(value, [], opts);
}

export interface RandomOptions extends TensorOptions {
  rng?: Rng;
}

/** Uniform in [lo, hi) (default [0, 1)). */
export function rand(shape: Shape, opts: RandomOptions & { lo?: number; hi?: number } = {}): Tensor {
  const rng = opts.rng ?? defaultRng();
  const lo = opts.lo ?? 0;
  const hi = opts.hi ?? 1;
  const t = empty(shape, opts);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.uniformIn(lo, hi);
  return t;
}

/** Normal with the given mean and standard deviation (default N(0, 1)). */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const rng = opts.rng ?? defaultRng();
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  const t = empty(shape, opts);
  for (let i = 0; i < t.size; i++) t.data[i] = mean + std * rng.normal();
  return t;
}

/** The same values in another dtype (a copy, cut from the graph). */
export function toDType(t: Tensor, dtype: DType): Tensor {
  const out = empty(t.shape, { dtype });
  out.data.set(t.data);
  return out;
}

// ---------------------------------------------------------------------------------------
// Formatting

function inferShape(values: NestedArray[]): number[] {
  const shape: number[] = [values.length];
  let cur: NestedArray = values;
  while (Array.isArray(cur) && cur.length > 0 && Array.isArray(cur[0])) {
    cur = cur[0] as NestedArray[];
    shape.push(cur.length);
  }
  return shape;
}

function nest(data: ArrayLike<number>, shape: Shape, dim: number, offset: number): NestedArray {
  if (dim === shape.length) return data[offset];
  const n = shape[dim];
  let inner = 1;
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  const out: NestedArray[] = [];
  for (let i = 0; i < n; i++) out.push(nest(data, shape, dim + 1, offset + i * inner));
  return out;
}

const EDGE = 3; // values shown at each end of a long dimension

function formatValues(data: ArrayLike<number>, shape: Shape): string {
  const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(5)).toString());
  const rec = (dim: number, offset: number, indent: string): string => {
    if (dim === shape.length) return fmt(data[offset]);
    const n = shape[dim];
    let inner = 1;
    for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
    const idx: (number | null)[] = [];
    if (n > 2 * EDGE + 1) {
      for (let i = 0; i < EDGE; i++) idx.push(i);
      idx.push(null);
      for (let i = n - EDGE; i < n; i++) idx.push(i);
    } else {
      for (let i = 0; i < n; i++) idx.push(i);
    }
    const items = idx.map((i) => (i === null ? "..." : rec(dim + 1, offset + i * inner, indent + " ")));
    const sep = dim === shape.length - 1 ? ", " : ",\n" + indent + " ";
    return `[${items.join(sep)}]`;
  };
  return rec(0, 0, "");
}

function describeArray(x: unknown): string {
  if (x === null || typeof x !== "object") return typeof x;
  return x.constructor?.name ?? "object";
}
