// MovieLens-100K as a user's own click log: one CSV row per rating of a split's two files
// (<split>.base and <split>.test), joined with the user's and the item's columns, as a user
// would export them from their own tables. It is the input of the own-data example
// (README, docs/results.md "Your own CSV"): `dlrm preprocess csv` with schema.json beside
// this file, then `dlrm train` with no other flag.
//
//   node --import tsx bench/movielens_csv/join.ts ../shared/data/ml-100k ratings.csv [--split u1]
//
// Columns: clicked (1 when the rating is 4 or 5, the label the movielens: source uses),
// rating, user_id, item_id, age, gender, occupation, zip, title (commas and quotes inside:
// RFC 4180 quoting), release_year (empty when unknown), genres ('|'-separated names, empty
// when none), timestamp, split ("train" for <split>.base, "test" for <split>.test).
// The data stays outside the repository (its licence): this script only reads it.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatCsvRecord } from "../../src/data/csv_records.ts";

const [dir, out] = process.argv.slice(2);
const splitAt = process.argv.indexOf("--split");
const split = splitAt === -1 ? "u1" : (process.argv[splitAt + 1] as string);
if (dir === undefined || out === undefined) throw new Error("usage: join.ts <ml-100k dir> <out.csv> [--split u1]");

const lines = (name: string): string[][] =>
  readFileSync(join(dir, name), "latin1")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(name.startsWith("u.") ? "|" : "\t"));

const genres = lines("u.genre").map(([name]) => name as string);
const users = new Map(
  lines("u.user").map(([id, age, gender, occupation, zip]) => [id, { age, gender, occupation, zip }]),
);
const items = new Map(
  lines("u.item").map((f) => {
    const year = /(\d{4})$/.exec(f[2] as string)?.[1] ?? "";
    const flags = f.slice(5);
    const names = genres.filter((_, g) => flags[g] === "1");
    return [f[0], { title: f[1] as string, year, genres: names.join("|") }];
  }),
);

const header = ["clicked", "rating", "user_id", "item_id", "age", "gender", "occupation", "zip"];
header.push("title", "release_year", "genres", "timestamp", "split");
const rows = [formatCsvRecord(header)];
for (const [file, part] of [
  [`${split}.base`, "train"],
  [`${split}.test`, "test"],
] as const) {
  for (const [user, item, rating, timestamp] of lines(file)) {
    const u = users.get(user);
    const it = items.get(item);
    if (u === undefined || it === undefined)
      throw new Error(`${file}: user ${user} or item ${item} is not in u.user/u.item`);
    const clicked = Number(rating) >= 4 ? "1" : "0";
    rows.push(
      formatCsvRecord([
        clicked,
        rating as string,
        user as string,
        item as string,
        u.age as string,
        u.gender as string,
        u.occupation as string,
        u.zip as string,
        it.title,
        it.year,
        it.genres,
        timestamp as string,
        part,
      ]),
    );
  }
}
writeFileSync(out, `${rows.join("\r\n")}\r\n`);
console.log(JSON.stringify({ out, rows: rows.length - 1, split }));
