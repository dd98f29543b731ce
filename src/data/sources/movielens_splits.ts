// MovieLens-100K's official five-fold splits u1 … u5 for a folder: its <split>.base and
// <split>.test when both exist, otherwise rebuilt from its u.data, byte for byte as the data
// set's mku.sh makes them (src/data/movielens_folds.ts says how, and does it).

import type { RatingsText } from "../movielens.ts";
import { isOfficialSplit, officialSplitFromText } from "../movielens_folds.ts";
import type { DataFiles } from "../files.ts";
export { isOfficialSplit } from "../movielens_folds.ts";

/** u{k}.base and u{k}.test rebuilt from `<dir>/u.data`, named as if they were files in `dir`. */
export function buildOfficialSplit(
  dir: string,
  split: string,
  files: DataFiles,
): { base: RatingsText; test: RatingsText } {
  if (!isOfficialSplit(split))
    throw new Error(`movielens: split "${split}" cannot be rebuilt from u.data (only u1 … u5 can)`);
  const path = files.join(dir, "u.data");
  let text: string;
  try {
    text = files.readText(path, "latin1");
  } catch (e) {
    throw new Error(
      `movielens: ${split}.base is absent and cannot be rebuilt: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return officialSplitFromText({ path, text }, split, (file) => files.join(dir, file));
}

/** The split's ratings: its files when both exist, otherwise (u1 … u5) rebuilt from u.data. */
export function splitRatings(
  dir: string,
  split: string,
  files: DataFiles,
): { base: RatingsText; test: RatingsText } | undefined {
  const haveFiles = files.exists(files.join(dir, `${split}.base`)) && files.exists(files.join(dir, `${split}.test`));
  if (haveFiles || !isOfficialSplit(split)) return undefined; // readMovieLens reads (or names) the files
  return buildOfficialSplit(dir, split, files);
}
