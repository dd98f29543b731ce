// Metrics of a binary classifier on predicted probabilities: logloss (mean binary cross
// entropy), accuracy (the reference DLRM's round(p) == y), ROC AUC (exact, ties get half
// credit), and the two that recommender teams read beside them (He et al. 2014, "Practical
// lessons from predicting clicks on ads at Facebook"): normalized entropy (NE, logloss over
// the entropy of the eval set's base rate: below 1 the model beats always predicting the
// base rate) and calibration (mean prediction over base rate: 1 when the model predicts as
// many positives as there are). All sums run in float64. docs/results.md defines them.
//
// Glossary: N samples, P positives (label 1), Q negatives (label 0).

import { OpError } from "../tensor/shape.ts";

/**
 * The default clip of logloss: float32's machine epsilon 2⁻²³ ≈ 1.19e-7. The model's
 * probabilities are float32, which cannot tell 1 − p apart below about 6e-8, so a
 * prediction of exactly 0 or 1 only means "closer than float32 can say"; clipping at the
 * float32 epsilon charges such a confident miss −log(2⁻²³) ≈ 15.9 rather than an arbitrary
 * larger number, and is what scikit-learn's log_loss does for float32 predictions
 * (eps="auto" = finfo(dtype).eps), so the numbers compare with a PyTorch + sklearn run.
 */
export const LOGLOSS_EPS = 2 ** -23;

export interface Metrics {
  auc: number;
  logloss: number;
  accuracy: number;
  /** Normalized entropy; NaN when the base rate is 0 or 1 (see normalizedEntropy). */
  ne: number;
  /** Mean prediction / base rate; NaN when the base rate is 0 (see calibration). */
  calibration: number;
  n: number;
}

function checkLengths(op: string, pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (pred.length !== labels.length) {
    throw new OpError(
      op,
      `pred and labels differ in length — pred is (${pred.length},), labels is (${labels.length},)`,
    );
  }
  return pred.length;
}

function checkBinaryLabel(op: string, y: number, i: number): void {
  if (y !== 0 && y !== 1) throw new OpError(op, `label at position ${i} is ${y}; labels must be 0 or 1`);
}

function checkProbability(op: string, p: number, i: number): void {
  if (!(p >= 0 && p <= 1))
    throw new OpError(op, `prediction at position ${i} is ${p}; predictions must be probabilities in [0, 1]`);
}

/**
 * Mean binary cross entropy −[y·log p + (1−y)·log(1−p)] with p clipped to [eps, 1 − eps]
 * (eps defaults to LOGLOSS_EPS, see there). Labels may be soft (any value in [0, 1]).
 * NaN for N = 0.
 */
export function logloss(pred: ArrayLike<number>, labels: ArrayLike<number>, eps: number = LOGLOSS_EPS): number {
  const n = checkLengths("logloss", pred, labels);
  if (!(eps >= 0 && eps < 0.5)) throw new OpError("logloss", `eps must be in [0, 0.5), got ${eps}`);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i];
    const y = labels[i];
    checkProbability("logloss", p, i);
    if (!(y >= 0 && y <= 1)) throw new OpError("logloss", `label at position ${i} is ${y}; labels must be in [0, 1]`);
    const q = Math.min(Math.max(p, eps), 1 - eps);
    // y = 0 or 1 skips the other term, so a clip of 0 with p = 0 or 1 on the right side gives 0, not NaN
    if (y !== 0) sum -= y * Math.log(q);
    if (y !== 1) sum -= (1 - y) * Math.log(1 - q);
  }
  return sum / n;
}

/**
 * The fraction of samples with (p > threshold ? 1 : 0) == y. With the default threshold
 * 0.5 this is the reference's np.round(p) == y: np.round rounds half to even, so p = 0.5
 * exactly counts as a prediction of 0, as it does here. NaN for N = 0.
 */
export function accuracy(pred: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  const n = checkLengths("accuracy", pred, labels);
  for (let i = 0; i < n; i++) {
    checkProbability("accuracy", pred[i], i);
    checkBinaryLabel("accuracy", labels[i], i);
  }
  return correctPredictions(pred, labels, threshold) / n;
}

/**
 * How many samples have (p > threshold ? 1 : 0) == y: accuracy's count, without its checks,
 * for a training step's predictions (finite by then) and labels, which may be soft under bce
 * or real-valued under mse: such a label is never counted as right, as the reference's
 * round(p) == y counts it. pred and labels have one length (the caller's batch).
 */
export function correctPredictions(pred: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  let hits = 0;
  for (let i = 0; i < pred.length; i++) if ((pred[i] > threshold ? 1 : 0) === labels[i]) hits++;
  return hits;
}

/**
 * Exact ROC AUC: the probability that a random positive scores above a random negative,
 * ties counting one half — the Mann–Whitney U statistic with average ranks, divided by
 * P·Q; equal to sklearn's roc_auc_score. Scores may be any non-NaN numbers (probabilities
 * or logits). NaN when only one class is present (or N = 0): the AUC is then undefined
 * (sklearn raises; a metric here returns NaN so that a tiny eval split does not stop a run).
 *
 * How: sort the positives' and the negatives' scores separately (native typed-array sorts,
 * O(N log N), fast for millions), then one merge counts, for each positive, the negatives
 * strictly below it and those equal to it.
 */
export function auc(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = checkLengths("auc", pred, labels);
  let P = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    checkBinaryLabel("auc", y, i);
    if (Number.isNaN(pred[i])) throw new OpError("auc", `prediction at position ${i} is NaN`);
    if (y === 1) P++;
  }
  const Q = n - P;
  if (P === 0 || Q === 0) return Number.NaN;
  const pos = new Float64Array(P); // (P,)
  const neg = new Float64Array(Q); // (Q,)
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    if (labels[i] === 1) pos[a++] = pred[i];
    else neg[b++] = pred[i];
  }
  pos.sort();
  neg.sort();
  let below = 0; // negatives < the current positive
  let upTo = 0; // negatives <= the current positive
  let credit = 0; // Σ over positives of (#below + #equal/2); integers and halves, exact in float64 up to 2^52
  for (let a = 0; a < P; a++) {
    const s = pos[a];
    while (below < Q && neg[below] < s) below++;
    if (upTo < below) upTo = below;
    while (upTo < Q && neg[upTo] <= s) upTo++;
    credit += below + (upTo - below) / 2;
  }
  return credit / (P * Q);
}

/** The mean of the labels: the fraction of positives (soft labels count their value). NaN for N = 0. */
export function baseRate(labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y <= 1)) throw new OpError("baseRate", `label at position ${i} is ${y}; labels must be in [0, 1]`);
    sum += y;
  }
  return sum / labels.length;
}

/** Binary entropy −[p·ln p + (1−p)·ln(1−p)] in nats: the logloss of always predicting p on data of base rate p. */
export function binaryEntropy(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new OpError("binaryEntropy", `p must be in [0, 1], got ${p}`);
  return (p > 0 ? -p * Math.log(p) : 0) + (p < 1 ? -(1 - p) * Math.log(1 - p) : 0);
}

/**
 * Normalized entropy: logloss(pred, labels) / H(base rate), both in nats with logloss's clip.
 * 1 is the constant predictor at the base rate, lower is better. NaN when the base rate is 0
 * or 1 (one class only, or N = 0): the entropy is 0, so any error gives ∞ and a perfect
 * predictor 0/0; NE says nothing about such a set, and NaN (JSON null) reports that, as AUC
 * does for one class.
 */
export function normalizedEntropy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = checkLengths("normalizedEntropy", pred, labels);
  return normalize(n === 0 ? Number.NaN : logloss(pred, labels), n === 0 ? 0 : baseRate(labels));
}

/** NE from a logloss and the base rate it was measured at (NaN at rate 0 or 1). */
function normalize(ll: number, rate: number): number {
  const h = binaryEntropy(rate);
  return h === 0 ? Number.NaN : ll / h;
}

/**
 * Calibration: mean(pred) / base rate. 1 when the model predicts as many positives as there
 * are; above 1 it over-predicts. NaN when the base rate is 0 (no positives, or N = 0): the
 * ratio is undefined there.
 */
export function calibration(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = checkLengths("calibration", pred, labels);
  const rate = n === 0 ? 0 : baseRate(labels);
  if (rate === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i];
    checkProbability("calibration", p, i);
    sum += p;
  }
  return sum / n / rate;
}

/** AUC, logloss, accuracy, NE and calibration of one set of predictions, and the sample count. */
export function computeMetrics(pred: ArrayLike<number>, labels: ArrayLike<number>): Metrics {
  const ll = logloss(pred, labels);
  return {
    auc: auc(pred, labels),
    logloss: ll,
    accuracy: accuracy(pred, labels),
    ne: pred.length === 0 ? Number.NaN : normalize(ll, baseRate(labels)),
    calibration: calibration(pred, labels),
    n: pred.length,
  };
}

/**
 * Why some of m's metrics are undefined (printed as null), for a note beside them; null when
 * all are defined. From the base rate the metrics imply: calibration undefined means no
 * positives; NE undefined with calibration defined means no negatives.
 */
export function undefinedMetricsNote(m: Metrics): string | null {
  if (m.n === 0) return "no samples: every metric is undefined (null)";
  if (Number.isNaN(m.calibration))
    return "the labels are all 0 (base rate 0): AUC, NE and calibration are undefined (null)";
  if (Number.isNaN(m.ne)) return "the labels are all 1 (base rate 1): AUC and NE are undefined (null)";
  return null;
}
