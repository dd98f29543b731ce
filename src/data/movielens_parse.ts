// The MovieLens-100K parser: one official split (train on <split>.base, evaluate on
// <split>.test) as two Datasets of click-style samples, with user and item side features
// from u.user and u.item.
//
// A sample is one rating; its label is 1 when the rating is 4 or 5. Every feature comes from
// the files and none from ratings (no averages, counts or anything else that could carry
// the label), so train and test are built the same way (docs/datasets.md lists them):
//
//   tables (one lookup each unless noted)        dense (scaled to about [0, 1])
//   0 user          943 rows (u.user order)       0 age           (age − min) / (max − min) over u.user
//   1 item          1682 rows (u.item order)      1 release_year  (year − min) / (max − min) over u.item;
//   2 gender        M, F                                          unknown → mean of the known
//   3 age           7 buckets (MovieLens-1M's)    2 timestamp     (t − min) / (max − min) over <split>.base
//   4 occupation    sorted distinct in u.user
//   5 zip           first digit 0–9, or 10 for a non-numeric (Canadian) code
//   6 release_year  unknown, <1940, 1940s … 1980s, then one row per year from 1990
//   7 genres        the item's genre flags as one bag (1–6 lookups; 19 rows)
//
// Users and items get rows from u.user and u.item, which list all of them, so ids that occur
// only in the test file still have their own rows. u.item is Latin-1 (accented titles).
//
// This module parses the files' texts and needs no file access (a page parses the folder a
// user picks with it); src/data/movielens.ts reads them from a folder.
//
// Glossary: N samples, Dd = 3 dense features, F = 8 tables, G = 19 genres.

import { offsetsFromLengths, type Dataset, type SparseFeature } from "./dataset.ts";
import { splitLines } from "./text_lines.ts";
import { MOVIELENS_DENSE, MOVIELENS_TABLES } from "./movielens_fields.ts";

export interface MovieLensData {
  train: Dataset;
  test: Dataset;
  tableSizes: number[];
  tableNames: string[];
  denseNames: string[];
  /** The MovieLens id of each user row and of each item row, and each item's title (for showing predictions). */
  userIds: number[];
  itemIds: number[];
  itemTitles: string[];
  /**
   * The samples "user rates item" of one user (by MovieLens id) and every item the user has
   * not rated in <split>.base, built as the training samples are, at the last timestamp of
   * <split>.base (labels 0): what a page ranks to show a user's top items. items: the item
   * row of each sample.
   */
  candidates(userId: number): { data: Dataset; items: number[] };
}

/** MovieLens-1M's age groups, reused here: under 18, 18–24, 25–34, 35–44, 45–49, 50–55, 56 and over. */
const AGE_BUCKET_STARTS = [18, 25, 35, 45, 50, 56];
/** Release years before 1990 are bucketed by decade, with everything before 1940 in one bucket. */
const FIRST_DECADE = 1940;
const FIRST_SINGLE_YEAR = 1990;

interface User {
  id: number;
  row: number;
  age: number;
  gender: number;
  occupation: string;
  zip: number;
}

interface Item {
  id: number;
  row: number;
  title: string;
  /** Release year, or NaN when u.item gives no date. */
  year: number;
  /** Indices of the set genre flags. */
  genres: number[];
}

/** The text of a ratings file (user, item, rating, timestamp lines) and the name its errors give. */
export interface RatingsText {
  path: string;
  text: string;
}

/** The four files of a split, as texts with the names their errors give. */
export interface MovieLensTexts {
  user: RatingsText;
  item: RatingsText;
  base: RatingsText;
  test: RatingsText;
}

/** One split from the texts of u.user, u.item, <split>.base (train) and <split>.test (test). */
export function parseMovieLens(texts: MovieLensTexts): MovieLensData {
  const users = readUsers(texts.user.path, texts.user.text);
  const items = readItems(texts.item.path, texts.item.text);
  const basePath = texts.base.path;
  const base = readRatings(basePath, texts.base.text, users.byId, items.byId);
  const test = readRatings(texts.test.path, texts.test.text, users.byId, items.byId);

  const occupations = [...new Set(users.list.map((u) => u.occupation))].sort();
  const occupationRow = new Map(occupations.map((o, i) => [o, i]));

  const knownYears = items.list.map((it) => it.year).filter((y) => !Number.isNaN(y));
  if (knownYears.length === 0) throw new Error(`movielens: ${texts.item.path}: no item has a release date`);
  const minYear = Math.min(...knownYears);
  const maxYear = Math.max(...knownYears);
  const yearBuckets = 1 + 1 + (FIRST_SINGLE_YEAR - FIRST_DECADE) / 10 + Math.max(0, maxYear - FIRST_SINGLE_YEAR + 1);
  const yearBucket = (y: number): number => {
    if (Number.isNaN(y)) return 0;
    if (y < FIRST_DECADE) return 1;
    if (y < FIRST_SINGLE_YEAR) return 2 + Math.floor((y - FIRST_DECADE) / 10);
    return 2 + (FIRST_SINGLE_YEAR - FIRST_DECADE) / 10 + (y - FIRST_SINGLE_YEAR);
  };
  const scaleYear = (y: number): number => (maxYear > minYear ? (y - minYear) / (maxYear - minYear) : 0);
  const meanKnownYear = knownYears.reduce((s, y) => s + scaleYear(y), 0) / knownYears.length;

  const ages = users.list.map((u) => u.age);
  const minAge = Math.min(...ages);
  const maxAge = Math.max(...ages);

  if (base.length === 0) throw new Error(`movielens: ${basePath}: no ratings`);
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (const r of base) {
    minTime = Math.min(minTime, r.time);
    maxTime = Math.max(maxTime, r.time);
  }

  const build = (ratings: Rating[]): Dataset => {
    const N = ratings.length;
    const Dd = MOVIELENS_DENSE.length;
    const dense = new Float32Array(N * Dd); // (N, 3)
    const labels = new Float32Array(N); // (N,)
    const single = MOVIELENS_TABLES.length - 1; // tables 0–6 have one lookup per sample
    const ids = Array.from({ length: single }, () => new Int32Array(N)); // 7 × (N,)
    const genreLengths = new Int32Array(N); // (N,)
    for (let i = 0; i < N; i++) {
      const r = ratings[i];
      genreLengths[i] = r.item.genres.length;
    }
    const genreOffsets = offsetsFromLengths(genreLengths, "movielens genres");
    const genreIndices = new Int32Array(genreOffsets[N]); // (L,)
    for (let i = 0; i < N; i++) {
      const r = ratings[i];
      const u = r.user;
      const it = r.item;
      labels[i] = r.rating >= 4 ? 1 : 0;
      (ids[0] as Int32Array)[i] = u.row;
      (ids[1] as Int32Array)[i] = it.row;
      (ids[2] as Int32Array)[i] = u.gender;
      (ids[3] as Int32Array)[i] = ageBucket(u.age);
      (ids[4] as Int32Array)[i] = occupationRow.get(u.occupation) as number;
      (ids[5] as Int32Array)[i] = u.zip;
      (ids[6] as Int32Array)[i] = yearBucket(it.year);
      genreIndices.set(it.genres, genreOffsets[i]);
      dense[i * Dd + 0] = maxAge > minAge ? (u.age - minAge) / (maxAge - minAge) : 0;
      dense[i * Dd + 1] = Number.isNaN(it.year) ? meanKnownYear : scaleYear(it.year);
      dense[i * Dd + 2] = maxTime > minTime ? (r.time - minTime) / (maxTime - minTime) : 0;
    }
    const ones = new Int32Array(N).fill(1); // (N,) shared by the single-lookup tables
    const onesOffsets = offsetsFromLengths(ones);
    const sparse: SparseFeature[] = ids.map((indices) => ({
      lengths: ones,
      offsets: onesOffsets,
      indices,
      weights: null,
    }));
    sparse.push({ lengths: genreLengths, offsets: genreOffsets, indices: genreIndices, weights: null });
    return { n: N, denseFeatures: Dd, dense, labels, sparse };
  };

  return {
    train: build(base),
    test: build(test),
    tableSizes: [
      users.list.length,
      items.list.length,
      2,
      AGE_BUCKET_STARTS.length + 1,
      occupations.length,
      11,
      yearBuckets,
      items.genreCount,
    ],
    tableNames: [...MOVIELENS_TABLES],
    denseNames: [...MOVIELENS_DENSE],
    userIds: users.list.map((u) => u.id),
    itemIds: items.list.map((it) => it.id),
    itemTitles: items.list.map((it) => it.title),
    candidates: (userId) => {
      const user = users.byId.get(userId);
      if (user === undefined)
        throw new Error(`movielens: user ${userId} is not in ${texts.user.path} (ids 1 to ${users.list.length})`);
      const rated = new Set(base.filter((r) => r.user === user).map((r) => r.item));
      const unrated = items.list.filter((it) => !rated.has(it));
      return {
        data: build(unrated.map((item) => ({ user, item, rating: 0, time: maxTime }))),
        items: unrated.map((it) => it.row),
      };
    },
  };
}

function ageBucket(age: number): number {
  let b = 0;
  while (b < AGE_BUCKET_STARTS.length && age >= AGE_BUCKET_STARTS[b]) b++;
  return b;
}

function positiveInt(s: string): number {
  return /^\d+$/.test(s) ? Number(s) : Number.NaN;
}

/** u.user: id|age|gender|occupation|zip. */
function readUsers(path: string, text: string): { list: User[]; byId: Map<number, User> } {
  const list: User[] = [];
  const byId = new Map<number, User>();
  splitLines(text).forEach((line, k) => {
    const at = `movielens: ${path}:${k + 1}`;
    const f = line.split("|");
    if (f.length !== 5)
      throw new Error(`${at}: expected 5 |-separated fields (id|age|gender|occupation|zip), found ${f.length}`);
    const [idText, ageText, genderText, occupation, zipText] = f as [string, string, string, string, string];
    const id = positiveInt(idText);
    if (Number.isNaN(id)) throw new Error(`${at}: user id is not a positive integer: ${JSON.stringify(idText)}`);
    if (byId.has(id)) throw new Error(`${at}: user ${id} is listed twice`);
    const age = positiveInt(ageText);
    if (Number.isNaN(age)) throw new Error(`${at}: age is not a non-negative integer: ${JSON.stringify(ageText)}`);
    if (genderText !== "M" && genderText !== "F")
      throw new Error(`${at}: gender must be M or F, got ${JSON.stringify(genderText)}`);
    if (occupation === "") throw new Error(`${at}: empty occupation`);
    // First digit of a US zip code = a group of states; non-numeric (Canadian) codes share one row.
    const first = zipText.charCodeAt(0) - 48;
    const zip = first >= 0 && first <= 9 ? first : 10;
    const user: User = { id, row: list.length, age, gender: genderText === "M" ? 0 : 1, occupation, zip };
    list.push(user);
    byId.set(id, user);
  });
  if (list.length === 0) throw new Error(`movielens: ${path}: no users`);
  return { list, byId };
}

/** u.item: id|title|release date|video release date|IMDb URL|G genre flags (Latin-1). */
function readItems(path: string, text: string): { list: Item[]; byId: Map<number, Item>; genreCount: number } {
  const list: Item[] = [];
  const byId = new Map<number, Item>();
  let genreCount = -1;
  splitLines(text).forEach((line, k) => {
    const at = `movielens: ${path}:${k + 1}`;
    const f = line.split("|");
    if (genreCount === -1) genreCount = f.length - 5;
    if (genreCount < 1 || f.length !== 5 + genreCount) {
      throw new Error(
        `${at}: expected ${5 + Math.max(1, genreCount)} |-separated fields (id|title|release date|video date|URL|genre flags), found ${f.length}`,
      );
    }
    const id = positiveInt(f[0]);
    if (Number.isNaN(id)) throw new Error(`${at}: item id is not a positive integer: ${JSON.stringify(f[0])}`);
    if (byId.has(id)) throw new Error(`${at}: item ${id} is listed twice`);
    const date = f[2];
    let year = Number.NaN;
    if (date !== "") {
      const m = /^\d{1,2}-[A-Za-z]{3}-(\d{4})$/.exec(date);
      if (m === null) throw new Error(`${at}: release date is not like 01-Jan-1995: ${JSON.stringify(date)}`);
      year = Number(m[1]);
    }
    const genres: number[] = [];
    for (let g = 0; g < genreCount; g++) {
      const flag = f[5 + g];
      if (flag !== "0" && flag !== "1")
        throw new Error(`${at}: genre flag ${g + 1} must be 0 or 1, got ${JSON.stringify(flag)}`);
      if (flag === "1") genres.push(g);
    }
    const item: Item = { id, row: list.length, title: f[1], year, genres };
    list.push(item);
    byId.set(id, item);
  });
  if (list.length === 0) throw new Error(`movielens: ${path}: no items`);
  return { list, byId, genreCount };
}

interface Rating {
  user: User;
  item: Item;
  rating: number;
  time: number;
}

/** <split>.base / <split>.test: user, item, rating, timestamp, tab-separated. */
function readRatings(path: string, text: string, users: Map<number, User>, items: Map<number, Item>): Rating[] {
  const out: Rating[] = [];
  splitLines(text).forEach((line, k) => {
    const at = `movielens: ${path}:${k + 1}`;
    const f = line.split("\t");
    if (f.length !== 4)
      throw new Error(`${at}: expected 4 tab-separated fields (user, item, rating, timestamp), found ${f.length}`);
    const [u, i, r, t] = f.map(positiveInt) as [number, number, number, number];
    const user = users.get(u);
    if (user === undefined) throw new Error(`${at}: user ${JSON.stringify(f[0])} is not in u.user`);
    const item = items.get(i);
    if (item === undefined) throw new Error(`${at}: item ${JSON.stringify(f[1])} is not in u.item`);
    if (!(r >= 1 && r <= 5))
      throw new Error(`${at}: rating must be an integer from 1 to 5, got ${JSON.stringify(f[2])}`);
    if (Number.isNaN(t)) throw new Error(`${at}: timestamp is not a non-negative integer: ${JSON.stringify(f[3])}`);
    out.push({ user, item, rating: r, time: t });
  });
  return out;
}
