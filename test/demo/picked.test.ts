// Issue 24 item 16: the demo's folder picker says what was picked (the status line stayed
// empty). docs/demo/picked.js is the page's own module, run here in Node on file lists shaped
// like an <input type=file>'s; test/demo/browser.test.ts sees the line in the page.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { MOVIELENS_FILES } from "../../src/demo/demo_data.ts";

interface Picked {
  name: string;
  size: number;
  webkitRelativePath?: string;
}
const picked = (await import(new URL("../../docs/demo/picked.js", import.meta.url).href)) as {
  pickedStatus: (kind: string, files: Picked[]) => { text: string; bad: boolean };
  MOVIELENS_FILES: string[];
};

test("picked.js lists the MovieLens files the training thread reads", () => {
  assert.equal(picked.MOVIELENS_FILES, [...MOVIELENS_FILES]);
});

test("pickedStatus: the MovieLens folder, its size and what it holds; a folder without u.data is bad", () => {
  const folder = ["u.data", "u.item", "u.user", "u1.base", "u1.test", "README"].map((name) => ({
    name,
    size: 500_000,
    webkitRelativePath: `ml-100k/${name}`,
  }));
  assert.equal(picked.pickedStatus("movielens", folder), {
    text: "ml-100k: 6 files, 3.0 MB; found u.user, u.item, u.data and 2 split files (u1 … u5 are rebuilt from u.data when absent)",
    bad: false,
  });
  const wrong = picked.pickedStatus("movielens", [{ name: "x.txt", size: 10, webkitRelativePath: "photos/x.txt" }]);
  assert.is(wrong.bad, true);
  assert.match(wrong.text, /^photos: no u\.data among its 1 files/);
  assert.equal(picked.pickedStatus("movielens", []), { text: "", bad: false });
});

test("pickedStatus: Criteo files, their size, and that several are days in order", () => {
  assert.equal(
    picked.pickedStatus("criteo", [
      { name: "day_0", size: 1500 },
      { name: "day_1", size: 500 },
    ]),
    { text: "2 files, 2.0 kB: day_0, day_1 (one day each, in this order)", bad: false },
  );
});

test.run();
