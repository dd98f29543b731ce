// Kaggle-shaped Criteo click logs for the streaming benchmarks (bench/stream.bench.ts): label,
// 13 integer features (about a fifth of them missing, heavy-tailed, now and then negative),
// 26 categorical features as 8 hex digits, drawn heavy-headed over the Kaggle data set's
// cardinalities (value v of feature t has probability ∝ its rank's log spacing: id =
// ⌊C_t^u⌋ - 1 for u uniform, so a few values take most lines and the tail keeps adding new
// ones), some missing. Labels come from a hidden logistic rule over a few features (about a
// quarter positive), so a trained model has something to find.
//
//   node --import tsx bench/criteo_gen.ts <out.txt> <lines> [seed]
//
// Glossary: C_t cardinality of feature t.

import { closeSync, openSync, writeSync } from "node:fs";
import { Rng } from "../src/tensor/rng.ts";

/** Distinct values of C1 … C26 in Kaggle's train.txt (as the reference's preprocessing counts them). */
export const KAGGLE_CARDINALITIES = [
  1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173,
  4, 7046547, 18, 15, 286181, 105, 142572,
];

/** Probability that an integer feature is empty, per feature (Kaggle's I1 … I13 are missing this often, roughly). */
const INT_MISSING = [0.45, 0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0005, 0.04, 0.45, 0.04, 0.77, 0.22];
/** Probability that a categorical is empty (a few Kaggle features are often missing). */
const CAT_MISSING = KAGGLE_CARDINALITIES.map((_, t) => ([18, 19, 21, 24, 25].includes(t) ? 0.44 : t === 11 ? 0.03 : 0));

function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Writes `lines` lines to `path`. */
export function writeCriteoLines(path: string, lines: number, seed = 1): void {
  const rng = new Rng(seed);
  const fd = openSync(path, "w");
  const logC = KAGGLE_CARDINALITIES.map((c) => Math.log(c));
  const fields: string[] = new Array<string>(40);
  const ints = new Float64Array(13);
  const ids = new Int32Array(26);
  let at = 0;
  try {
    for (let start = 0; start < lines; start += 65536) {
      const end = Math.min(lines, start + 65536);
      const block: string[] = [];
      for (let i = start; i < end; i++) {
        for (let j = 0; j < 13; j++) {
          if (rng.uniform() < (INT_MISSING[j] as number)) {
            ints[j] = -1;
            fields[1 + j] = "";
          } else {
            const v = Math.floor(Math.exp(1 + 1.6 * rng.normal()));
            ints[j] = v;
            fields[1 + j] = String(j === 1 && rng.uniform() < 0.05 ? -1 : v);
          }
        }
        for (let t = 0; t < 26; t++) {
          const id = Math.floor(Math.exp(rng.uniform() * (logC[t] as number))) - 1;
          ids[t] = id;
          fields[14 + t] =
            rng.uniform() < (CAT_MISSING[t] as number)
              ? ""
              : hash32(id * 26 + t + 1)
                  .toString(16)
                  .padStart(8, "0");
        }
        // The hidden rule: a few features and the head of two categoricals.
        const z =
          -1.6 +
          0.25 * Math.log1p(Math.max(0, ints[0] as number)) -
          0.15 * Math.log1p(Math.max(0, ints[4] as number)) +
          ((ids[5] as number) % 3 === 0 ? 0.8 : -0.2) +
          ((ids[13] as number) < 5 ? 0.6 : 0);
        fields[0] = rng.uniform() < 1 / (1 + Math.exp(-z)) ? "1" : "0";
        block.push(fields.join("\t"));
      }
      const bytes = Buffer.from(`${block.join("\n")}\n`, "latin1");
      at += writeSync(fd, bytes, 0, bytes.length, at);
    }
  } finally {
    closeSync(fd);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out, n, seed] = process.argv.slice(2);
  if (out === undefined || n === undefined) {
    process.stderr.write("usage: node --import tsx bench/criteo_gen.ts <out.txt> <lines> [seed]\n");
    process.exit(2);
  }
  writeCriteoLines(out, Number(n), seed === undefined ? 1 : Number(seed));
}
