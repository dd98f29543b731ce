// The file `dlrm predict --out` writes, by its extension: `.safetensors` (the tensor `pred`
// F32 [N], for programs), `.csv` (a `pred` header, and `label` when the data has labels, then
// one row per sample) or `.jsonl` (one {"pred": p[, "label": y]} object per sample), in data
// order. Any other extension is refused before any work, rather than guessed. Each value is
// printed with 9 significant digits, which give back the same float32. Written atomically, in
// chunks, so a large N never builds one string.

import { extname } from "node:path";
import { UsageError } from "./args.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { writeSafetensors } from "../io/safetensors.ts";

export const PREDICTION_FORMATS = [".safetensors", ".csv", ".jsonl"] as const;
type Format = (typeof PREDICTION_FORMATS)[number];

/** The format of an --out path, or a UsageError naming the ones there are. */
export function predictionFormat(path: string): Format {
  const ext = extname(path).toLowerCase();
  if (!(PREDICTION_FORMATS as readonly string[]).includes(ext))
    throw new UsageError(
      `predict: --out ${path}: write predictions to ${PREDICTION_FORMATS.map((e) => `.${e.slice(1)}`)
        .join(", ")
        .replace(/, ([^,]*)$/, " or $1")} (got "${ext || "no extension"}")`,
    );
  return ext as Format;
}

/** The float32 value v in the fewest characters that read back as the same float32. */
function f32(v: number): string {
  return String(Number(v.toPrecision(9)));
}

const ROWS_PER_CHUNK = 65536;

/** Writes (N,) predictions, with their (N,) labels when known, to path in its format. */
export function writePredictions(path: string, pred: Float32Array, labels: Float32Array | null): void {
  const format = predictionFormat(path);
  if (format === ".safetensors") {
    writeSafetensors(path, { pred: { dtype: "F32", shape: [pred.length], data: pred } });
    return;
  }
  const row =
    format === ".csv"
      ? (i: number): string => (labels === null ? f32(pred[i]) : `${f32(pred[i])},${labels[i]}`)
      : (i: number): string =>
          labels === null ? `{"pred":${f32(pred[i])}}` : `{"pred":${f32(pred[i])},"label":${labels[i]}}`;
  const encoder = new TextEncoder();
  writeFileAtomically(path, (write) => {
    if (format === ".csv") write(encoder.encode(labels === null ? "pred\n" : "pred,label\n"));
    for (let start = 0; start < pred.length; start += ROWS_PER_CHUNK) {
      const lines: string[] = [];
      for (let i = start; i < Math.min(pred.length, start + ROWS_PER_CHUNK); i++) lines.push(row(i));
      write(encoder.encode(`${lines.join("\n")}\n`));
    }
  });
}
