// Progress text on a fake stream with a fake clock: the format only, never real timing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatDuration, Progress } from "../../src/train/progress.ts";
import { assertThrows } from "../../src/testing/index.ts";

function fakeStream(
  isTTY: boolean,
  columns?: number,
): { writes: string[]; write(s: string): boolean; isTTY: boolean; columns?: number } {
  const writes: string[] = [];
  return { writes, write: (s: string) => (writes.push(s), true), isTTY, ...(columns === undefined ? {} : { columns }) };
}

test("not a terminal: a plain line every `every` steps and at the last step; loss, rate and eta over the window", () => {
  const out = fakeStream(false);
  let t = 0;
  const p = new Progress({ out, every: 2, label: "train", now: () => t });
  const losses = [0.9, 0.7, 0.5, 0.3, 0.1];
  const samples = [128, 256, 384, 512, 576]; // the last batch is short (64)
  for (let step = 1; step <= 5; step++) {
    t = step * 1000;
    p.update({ step, totalSteps: 5, samples: samples[step - 1] as number, loss: losses[step - 1] as number });
  }
  p.done("finished");
  assert.equal(out.writes, [
    // steps 1–2: mean loss 0.8, 256 samples in 2 s, 3 steps left at 1 s each
    "train step 2/5  loss 0.8000  128 samples/s  eta 3s\n",
    // steps 3–4: mean loss 0.4, 256 samples in 2 s, 1 step left
    "train step 4/5  loss 0.4000  128 samples/s  eta 1s\n",
    // step 5: 64 samples in 1 s
    "train step 5/5  loss 0.1000  64 samples/s  eta 0s\n",
    "finished\n",
  ]);
});

test("terminal: one line redrawn with \\r and clear-to-end, at most every 100 ms and always at the last step", () => {
  const out = fakeStream(true);
  const times = [1000, 1050, 3000, 3010, 3020];
  const losses = [1, 0.5, 0.25, 0.25, 0.25];
  let t = 0;
  const p = new Progress({ out, now: () => t });
  for (let step = 1; step <= 5; step++) {
    t = times[step - 1] as number;
    p.update({ step, totalSteps: 5, samples: 100 * step, loss: losses[step - 1] as number });
  }
  p.done("done");
  const bar = (n: number): string => "=".repeat(n) + " ".repeat(24 - n);
  assert.equal(out.writes, [
    // step 1: bar round(24/5) = 5; smoothed loss = the first loss; 100 samples in 1 s; 4 steps left at 1 s
    `\r[${bar(5)}] 1/5  loss 1.0000  100 samples/s  eta 4s\x1b[K`,
    // step 2 came 50 ms later: not drawn. step 3: bar 14; EMA(β=.98, bias-corrected) of 1, .5, .25 = 0.57829
    `\r[${bar(14)}] 3/5  loss 0.5783  100 samples/s  eta 2s\x1b[K`,
    // step 4 not drawn; step 5 is last: full bar; EMA 0.44298; 500 samples in 3.02 s = 165.6
    `\r[${bar(24)}] 5/5  loss 0.4430  166 samples/s  eta 0s\x1b[K`,
    "\n",
    "done\n",
  ]);
});

test("terminal: a throttled update is drawn by done(); a line wider than the terminal is cut to fit", () => {
  const out = fakeStream(true, 30);
  let t = 0;
  const p = new Progress({ out, label: "eval", now: () => t });
  t = 2000;
  p.update({ step: 1, totalSteps: 4, samples: 10, loss: 0.5 });
  t = 2001;
  p.update({ step: 2, totalSteps: 4, samples: 20, loss: 0.5 });
  assert.is(out.writes.length, 1);
  p.done();
  assert.is(out.writes.length, 3);
  assert.is(out.writes[1], `\r${`eval [${"=".repeat(12)}${" ".repeat(12)}] 2/4  loss 0.5000`.slice(0, 29)}\x1b[K`);
  assert.is(out.writes[2], "\n");
});

test("formatDuration, and bad arguments are errors", () => {
  assert.equal([12, 59.4, 59.6, 185, 3720].map(formatDuration), ["12s", "59s", "1m00s", "3m05s", "1h02m"]);
  assertThrows(
    () => new Progress({ out: fakeStream(false), every: 0 }),
    /^Progress: every must be an integer >= 1, got 0/,
  );
  const p = new Progress({ out: fakeStream(false) });
  assertThrows(
    () => p.update({ step: 6, totalSteps: 5, samples: 0, loss: 0 }),
    /^Progress\.update: step must be an integer in \[1, totalSteps\], got step 6 of 5/,
  );
});

test.run();
