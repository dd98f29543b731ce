// The MovieLens-100K reader: one official split (train on <split>.base, evaluate on
// <split>.test) of a folder, with u.user and u.item, read as Latin-1 and parsed by
// src/data/movielens_parse.ts (which a page uses on the files a user picks; its head lists
// the features). The files are read through the host's file access handed in
// (src/data/files.ts).

import type { DataFiles } from "./files.ts";
import { parseMovieLens, type MovieLensData, type RatingsText } from "./movielens_parse.ts";
export { parseMovieLens, type MovieLensData, type MovieLensTexts, type RatingsText } from "./movielens_parse.ts";

function readText(files: DataFiles, path: string, what: string): string {
  try {
    return files.readText(path, "latin1");
  } catch (e) {
    throw new Error(`movielens: cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A split's ratings file, or its text when given. */
function ratingsText(files: DataFiles, path: string, split: string, given?: RatingsText): RatingsText {
  if (given !== undefined) return given;
  try {
    return { path, text: files.readText(path, "latin1") };
  } catch (e) {
    throw new Error(
      `movielens: cannot read ${path} (split ${JSON.stringify(split)} needs ${split}.base and ${split}.test): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Reads `<dir>/u.user`, `<dir>/u.item`, `<dir>/<split>.base` (train) and `<dir>/<split>.test` (test).
 *  `ratings` replaces the two split files with texts already in memory (e.g. a split rebuilt
 *  from u.data when its files are absent). */
export function readMovieLens(
  dir: string,
  split: string,
  files: DataFiles,
  ratings?: { base: RatingsText; test: RatingsText },
): MovieLensData {
  const userPath = files.join(dir, "u.user");
  const itemPath = files.join(dir, "u.item");
  return parseMovieLens({
    user: { path: userPath, text: readText(files, userPath, "the user file") },
    item: { path: itemPath, text: readText(files, itemPath, "the item file") },
    base: ratingsText(files, files.join(dir, `${split}.base`), split, ratings?.base),
    test: ratingsText(files, files.join(dir, `${split}.test`), split, ratings?.test),
  });
}
