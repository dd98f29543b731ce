// The byte progress of reading a file: plain lines at each tenth of the bytes (a pipe, CI),
// one redrawn line on a terminal, with a fake clock so rates and ETAs are exact.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ReadProgress } from "../../src/cli/read_progress.ts";

function sink(isTTY: boolean): { out: { write(s: string): void; isTTY: boolean }; text: () => string } {
  let text = "";
  return { out: { write: (s: string) => void (text += s), isTTY }, text: () => text };
}

test("plain output: one line per tenth of the bytes crossed, with rate and eta from the clock", () => {
  const s = sink(false);
  let now = 0;
  const p = new ReadProgress(s.out, "read criteo", () => now);
  now = 1000;
  p.update(20000, 50e6, 200e6); // 25%: a line (tenths 0 … 2 crossed at once print once)
  now = 1500;
  p.update(24000, 55e6, 200e6); // still the 2nd tenth: nothing
  now = 4000;
  p.update(80000, 200e6, 200e6); // done
  p.done();
  const lines = s.text().trim().split("\n");
  assert.is(lines.length, 2, s.text());
  // 20000 lines in 1 s = 20k lines/s; 25% in 1 s leaves 3 s.
  assert.is(lines[0], "read criteo [======                  ] 25%  50.0/200.0 MB  20k lines  20k lines/s  eta 3s");
  assert.is(lines[1], "read criteo [========================] 100%  200.0/200.0 MB  80k lines  20k lines/s  eta 0s");
});

test("terminal output: redrawn in place at most every 100 ms, finished with a newline", () => {
  const s = sink(true);
  let now = 0;
  const p = new ReadProgress(s.out, "x", () => now);
  now = 200;
  p.update(10, 100, 1000);
  now = 250;
  p.update(20, 200, 1000); // within 100 ms of the last draw: skipped
  now = 400;
  p.update(30, 300, 1000);
  p.done();
  const draws = s
    .text()
    .split("\r")
    .filter((d) => d !== "");
  assert.is(draws.length, 3, JSON.stringify(s.text()));
  assert.ok(draws.every((d) => d.includes("\x1b[K")));
  assert.match(draws[0] as string, /^x \[== {22}\] 10%  0\.1\/1\.0 kB  10 lines/);
  assert.ok(s.text().endsWith("\n"));
});

test.run();
