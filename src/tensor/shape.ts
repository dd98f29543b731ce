// Shape helpers and the one place where shape error messages are formatted.
//
// Message rule: `<op>: <what is wrong> — <arg> is (<shape>), <arg> is (<shape>)[, attrs]`.

export type Shape = readonly number[];

/** Anything with a shape: a Tensor or an IndexTensor. */
export interface Shaped {
  readonly shape: Shape;
}

/** An error thrown by an op for bad input; `op` names the op. */
export class OpError extends Error {
  readonly op: string;
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = "OpError";
    this.op = op;
  }
}

export function formatShape(shape: Shape): string {
  if (shape.length > MAX_SHOWN_DIMS) {
    // a hostile file's shape may have millions of entries: the message shows its ends
    const head = shape.slice(0, MAX_SHOWN_DIMS - 2).join(", ");
    return `(${head}, …, ${shape.slice(-2).join(", ")}: ${shape.length} dimensions)`;
  }
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/** A shape with more dimensions than this is shown by its ends. */
const MAX_SHOWN_DIMS = 16;

/** `op: what — a is (2, 3), b is (4,)` with optional extra attributes. */
export function shapeError(
  op: string,
  what: string,
  args: Record<string, Shaped> = {},
  attrs: Record<string, unknown> = {},
): OpError {
  const parts = Object.entries(args).map(([name, t]) => `${name} is ${formatShape(t.shape)}`);
  for (const [k, v] of Object.entries(attrs)) parts.push(`${k}=${JSON.stringify(v)}`);
  return new OpError(op, parts.length > 0 ? `${what} — ${parts.join(", ")}` : what);
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new OpError(op, `shape must hold non-negative integers, got [${shape.join(", ")}]`);
    }
  }
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Row-major strides of a contiguous array of this shape, in elements. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Normalize a possibly negative axis into [0, rank). */
export function normAxis(op: string, axis: number, rank: number, t?: Shaped): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw shapeError(op, `axis ${axis} is out of range for rank ${rank}`, t ? { input: t } : {});
  }
  return a;
}

/**
 * NumPy broadcasting: align shapes on the right; each pair of dims must be equal or one
 * of them 1. Returns the output shape or throws naming the op and both shapes.
 */
export function broadcastShapes(op: string, a: Shaped, b: Shaped): number[] {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const r = Math.max(ra, rb);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = i < r - ra ? 1 : a.shape[i - (r - ra)];
    const db = i < r - rb ? 1 : b.shape[i - (r - rb)];
    if (da !== db && da !== 1 && db !== 1) {
      throw shapeError(op, `shapes cannot be broadcast (dim ${i - r} is ${da} vs ${db})`, { a, b });
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}
