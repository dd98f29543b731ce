// The README's "## Reading order" table stays true: every file exists and has the lines the
// table says, in all at most 16 files and 2,500 lines (issue 25's bound for the path a reader
// takes), single-thread files before the hybrid step's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";

const root = new URL("..", import.meta.url);

function readingOrder(): { file: string; lines: number }[] {
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const start = readme.indexOf("\n## Reading order\n");
  assert.ok(start >= 0, "README.md has no ## Reading order section");
  const end = readme.indexOf("\n## ", start + 1);
  const rows = readme
    .slice(start, end)
    .split("\n")
    .filter((l) => /^\|\s*`/.test(l));
  return rows.map((row) => {
    const m = /^\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|/.exec(row);
    assert.ok(m !== null, `a row of the reading order is not "| \`file\` | lines | …": ${row}`);
    return { file: m[1], lines: Number(m[2]) };
  });
}

/** Lines as `wc -l` counts them: newline characters. */
function lineCount(file: string): number {
  return readFileSync(new URL(file, root), "utf8").split("\n").length - 1;
}

test("README reading order: each file's line count is its own", () => {
  for (const { file, lines } of readingOrder())
    assert.is(lineCount(file), lines, `${file} has ${lineCount(file)} lines`);
});

test("README reading order: at most 16 files and 2,500 lines, the single thread before the hybrid step", () => {
  const rows = readingOrder();
  assert.ok(rows.length <= 16, `${rows.length} files`);
  const total = rows.reduce((a, r) => a + r.lines, 0);
  assert.ok(total <= 2500, `${total} lines`);
  const files = rows.map((r) => r.file);
  const firstParallel = files.findIndex((f) => f.startsWith("src/parallel/"));
  assert.ok(firstParallel > files.indexOf("src/train/local.ts"), "the single-thread step comes first");
  assert.ok(files.includes("src/ops/all_to_all.ts") && files.includes("src/parallel/rank.ts"));
});

test.run();
