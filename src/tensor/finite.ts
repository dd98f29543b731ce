// The one check for values that are not numbers: a training step's predictions (one thread
// and each rank), `dlrm predict`'s, a checkpoint's chunks (src/dlrm/finite.ts), a dataset's
// dense features, labels and weights (src/dlrm/check_data.ts). Where it finds one, the caller
// names the sample or the tensor.

/** The index of the first value of x that is NaN or ±Infinity, or -1. */
export function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}
