// An evaluation on a handful of samples prints metrics that look as precise as any other;
// below SMALL_EVAL samples `dlrm train` and `dlrm predict --metrics` say how loose they are.
// The width given is accuracy's 95% interval at its widest (p = 1/2): 2 · 0.5/√n.

/** Fewer held-out samples than this gets a warning. */
export const SMALL_EVAL = 1000;

/** The warning line for an evaluation on n samples, or null when n is enough. */
export function smallEvalWarning(verb: string, n: number): string | null {
  if (n >= SMALL_EVAL) return null;
  const halfWidth = 1 / Math.sqrt(Math.max(n, 1));
  return `dlrm ${verb}: warning: the evaluation set has only ${n} samples (fewer than ${SMALL_EVAL}): its accuracy is known to about ±${halfWidth.toFixed(2)}, and its AUC and logloss are as loose; compare runs on more data\n`;
}
