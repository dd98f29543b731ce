// MovieLens-100K's official five-fold splits u1 … u5, rebuilt from the text of u.data, with
// no file access (the registry reads u.data in src/data/sources/movielens_splits.ts; the demo has
// the text of a picked file). The data set makes them with its script mku.sh,
// deterministically:
//
//   for i in 1..5:
//     u{i}.test = lines (i−1)·20000 + 1 … i·20000 of u.data
//     u{i}.base = every other line of u.data
//   each sorted by user id, then item id, numerically (sort -t"<tab>" -k 1,1n -k 2,2n)
//
// so rebuilding them gives the distributed files byte for byte (test/cli/movielens.test.ts
// checks that against u1.base and u1.test).
//
// Glossary: K = 5 folds, M = 20000 ratings per fold.

import { splitLines } from "./text_lines.ts";
import type { RatingsText } from "./movielens_parse.ts";

const FOLDS = 5;
const PER_FOLD = 20000;

/** Split names that can be rebuilt from u.data. */
export function isOfficialSplit(split: string): boolean {
  return /^u[1-5]$/.test(split);
}

/**
 * u{k}.base and u{k}.test rebuilt from u.data's text; nameOf names each rebuilt file in
 * errors (e.g. its path in the folder, with " (rebuilt from u.data)").
 */
export function officialSplitFromText(
  udata: RatingsText,
  split: string,
  nameOf: (file: string) => string,
): { base: RatingsText; test: RatingsText } {
  if (!isOfficialSplit(split))
    throw new Error(`movielens: split "${split}" cannot be rebuilt from u.data (only u1 … u5 can)`);
  const k = Number(split.slice(1));
  const path = udata.path;
  const lines = splitLines(udata.text);
  if (lines.length !== FOLDS * PER_FOLD) {
    throw new Error(
      `movielens: ${path}: expected ${FOLDS * PER_FOLD} ratings to rebuild the official splits, found ${lines.length}`,
    );
  }
  const keys = lines.map((line, i) => {
    const f = line.split("\t");
    const user = Number(f[0]);
    const item = Number(f[1]);
    if (f.length !== 4 || !/^\d+$/.test(f[0]) || !/^\d+$/.test(f[1])) {
      throw new Error(
        `movielens: ${path}:${i + 1}: expected user, item, rating, timestamp as tab-separated integers, got ${JSON.stringify(line.slice(0, 60))}`,
      );
    }
    return { line, user, item };
  });
  const start = (k - 1) * PER_FOLD;
  const end = k * PER_FOLD;
  const test = keys.slice(start, end);
  const base = [...keys.slice(0, start), ...keys.slice(end)];
  return {
    base: { path: nameOf(`${split}.base (rebuilt from u.data)`), text: sortedText(base) },
    test: { path: nameOf(`${split}.test (rebuilt from u.data)`), text: sortedText(test) },
  };
}

/** Lines sorted as `sort -t"<tab>" -k 1,1n -k 2,2n` sorts them: user, then item, then (sort's
 *  last resort) the whole line byte by byte; one "\n" after each line. */
function sortedText(rows: { line: string; user: number; item: number }[]): string {
  const sorted = [...rows].sort(
    (a, b) => a.user - b.user || a.item - b.item || (a.line < b.line ? -1 : a.line > b.line ? 1 : 0),
  );
  return sorted.map((r) => `${r.line}\n`).join("");
}
