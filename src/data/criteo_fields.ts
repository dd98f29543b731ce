// The columns of a Criteo click-log line (Kaggle train.txt, Terabyte day_N): the label,
// 13 integer features I1–I13 and 26 hexadecimal categorical features C1–C26.

/** Dd: integer (dense) features per line. */
export const CRITEO_DENSE = 13;
/** F: categorical features (tables) per line. */
export const CRITEO_SPARSE = 26;
/** Fields per line: label, dense, categorical. */
export const CRITEO_FIELDS = 1 + CRITEO_DENSE + CRITEO_SPARSE;

/** Column names as the Kaggle data set names them: label, I1..I13, C1..C26 (f = 0 … 39). */
export function criteoFieldName(f: number): string {
  if (f === 0) return "label";
  return f <= CRITEO_DENSE ? `I${f}` : `C${f - CRITEO_DENSE}`;
}
