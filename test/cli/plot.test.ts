// dlrm plot and dlrm train --plot: the SVG is well-formed, has one path per (run, series)
// (training loss; eval AUC, logloss, NE, calibration; training and eval accuracy in one panel;
// a log without NE, as written before it, has no NE panel), and its axes, read back from the
// tick labels, contain the data and map the drawn points back to the logged numbers (the
// loss and the training accuracy smoothed as the progress bar smooths the loss).

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { allElements, parseXml, type XmlElement } from "../helpers/xml.ts";
import { niceTicks } from "../../src/plot/svg.ts";

const TRAIN = ["train", "--data", "synthetic", "--workers", "1", "--batch-size", "64"];

interface Logged {
  losses: number[]; // index = step - 1
  accuracies: number[]; // each step's batch accuracy, index = step - 1
  evals: { step: number; auc: number; logloss: number; ne: number; calibration: number; accuracy: number }[];
}

function readLog(path: string): Logged {
  const out: Logged = { losses: [], accuracies: [], evals: [] };
  for (const line of readFileSync(path, "utf8").trim().split("\n")) {
    const o = JSON.parse(line) as Record<string, number | string>;
    if (o["event"] === "eval")
      out.evals.push({
        step: o["step"] as number,
        auc: o["auc"] as number,
        logloss: o["logloss"] as number,
        ne: o["ne"] as number,
        calibration: o["calibration"] as number,
        accuracy: o["accuracy"] as number,
      });
    else {
      out.losses.push(o["loss"] as number);
      out.accuracies.push(o["accuracy"] as number);
    }
  }
  return out;
}

/** The progress bar's smoothing of the loss, written out: Σ β^(n-i) (1-β) v_i / (1 - β^n). */
function smoothed(values: number[], n: number): number {
  const beta = 0.98;
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += beta ** (n - i) * (1 - beta) * (values[i - 1] as number);
  return sum / (1 - beta ** n);
}

/** A panel's axes read back from its tick labels: value ↔ pixel, and the ranges. */
function axesOf(panel: XmlElement): {
  xRange: [number, number];
  yRange: [number, number];
  toX: (px: number) => number;
  toY: (py: number) => number;
  area: Record<string, number>;
} {
  const els = allElements(panel);
  const rect = els.find((e) => e.attrs["class"] === "plot-area");
  assert.ok(rect, "a plot-area rect");
  const area = Object.fromEntries(["x", "y", "width", "height"].map((k) => [k, Number(rect.attrs[k])]));
  const ticks = (cls: string, pos: string): [number, number][] =>
    els
      .filter((e) => e.attrs["class"] === cls)
      .map((e) => {
        assert.is(Number(e.text), Number(e.attrs["data-value"]), `tick label "${e.text}" shows its value`);
        return [Number(e.attrs["data-value"]), Number(e.attrs[pos])];
      });
  const xs = ticks("tick-x", "x");
  const ys = ticks("tick-y", "y");
  assert.ok(xs.length >= 2 && ys.length >= 2, "at least two ticks per axis");
  const line = (t: [number, number][]): ((p: number) => number) => {
    const [[v0, p0], [v1, p1]] = [t[0] as [number, number], t[t.length - 1] as [number, number]];
    return (p) => v0 + ((p - p0) / (p1 - p0)) * (v1 - v0);
  };
  // The outermost ticks sit on the plotting area's edges: they are the axis ranges.
  const near = (a: number, b: number): boolean => Math.abs(a - b) < 0.02;
  assert.ok(
    near((xs[0] as [number, number])[1], area["x"] as number) &&
      near((xs[xs.length - 1] as [number, number])[1], (area["x"] as number) + (area["width"] as number)),
    "x ticks span the area",
  );
  assert.ok(
    near((ys[0] as [number, number])[1], (area["y"] as number) + (area["height"] as number)) &&
      near((ys[ys.length - 1] as [number, number])[1], area["y"] as number),
    "y ticks span the area",
  );
  return {
    xRange: [(xs[0] as number[])[0] as number, (xs[xs.length - 1] as number[])[0] as number],
    yRange: [(ys[0] as number[])[0] as number, (ys[ys.length - 1] as number[])[0] as number],
    toX: line(xs),
    toY: line(ys),
    area,
  };
}

function pathPoints(d: string): [number, number][] {
  return d.split(" ").map((cmd) => {
    assert.match(cmd, /^[ML]-?[0-9.]+,-?[0-9.]+$/);
    const [x, y] = cmd.slice(1).split(",").map(Number);
    return [x as number, y as number];
  });
}

test("dlrm plot overlays two runs: well-formed SVG, one path per series, axes that contain and map back to the logged data", async () => {
  const t = tempDir();
  try {
    const a = join(t.dir, "a.jsonl");
    const b = join(t.dir, "b.jsonl");
    for (const [log, more] of [
      [a, []],
      [b, ["--lr", "0.02", "--seed", "7"]],
    ] as const) {
      const run = await runCli([...TRAIN, "--steps", "150", "--test-freq", "50", ...more, "--log", log]);
      assert.is(run.code, 0, run.stderr);
    }
    const out = join(t.dir, "ab.svg");
    const r = await runCli(["plot", a, b, "--out", out, "--title", "a & b"]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, "wrote 2 runs");
    const svg = parseXml(readFileSync(out, "utf8"));
    assert.is(svg.name, "svg");
    assert.is(svg.attrs["xmlns"], "http://www.w3.org/2000/svg");
    const els = allElements(svg);
    assert.ok(
      els.some((e) => e.name === "text" && e.text === "a & b"),
      "the title, escaped and read back",
    );
    assert.equal(
      els.filter((e) => e.attrs["class"] === "legend-item").map((e) => e.attrs["data-run"]),
      ["a", "b"],
    );

    const logs: Record<string, Logged> = { a: readLog(a), b: readLog(b) };
    const panels = els.filter((e) => e.attrs["class"] === "panel");
    assert.equal(
      panels.map((p) => p.attrs["data-metric"]),
      ["loss", "auc", "logloss", "ne", "calibration", "accuracy"],
    );
    for (const panel of panels) {
      const metric = panel.attrs["data-metric"] as "loss" | "auc" | "logloss" | "ne" | "calibration" | "accuracy";
      const ax = axesOf(panel);
      const paths = allElements(panel).filter((e) => e.name === "path");
      const series = metric === "accuracy" ? ["train-accuracy", "accuracy"] : [metric];
      assert.equal(
        paths.map((p) => `${p.attrs["data-metric"]}:${p.attrs["data-run"]}`),
        series.flatMap((s) => [`${s}:a`, `${s}:b`]),
        `${metric}: one path per run and series`,
      );
      for (const p of paths) {
        const perStep = p.attrs["data-metric"] === "loss" || p.attrs["data-metric"] === "train-accuracy";
        const log = logs[p.attrs["data-run"] as string] as Logged;
        const pts = pathPoints(p.attrs["d"] as string).map(([px, py]) => [ax.toX(px), ax.toY(py)] as [number, number]);
        // Pixels carry two decimals: the tolerance is a hundredth of a pixel in data units.
        const tolX = ((ax.xRange[1] - ax.xRange[0]) / (ax.area["width"] as number)) * 0.006;
        const tolY = ((ax.yRange[1] - ax.yRange[0]) / (ax.area["height"] as number)) * 0.006;
        for (const [x, y] of pts) {
          assert.ok(
            x >= ax.xRange[0] - tolX && x <= ax.xRange[1] + tolX,
            `${metric}: step ${x} inside the x axis ${ax.xRange}`,
          );
          // above the axis only where the panel says it clips the first steps' spike
          const clippedAbove = panel.attrs["data-clipped-above"];
          assert.ok(
            y >= ax.yRange[0] - tolY &&
              (y <= ax.yRange[1] + tolY || (clippedAbove !== undefined && y > Number(clippedAbove))),
            `${metric}: value ${y} inside the y axis ${ax.yRange}`,
          );
        }
        const stepValues = p.attrs["data-metric"] === "loss" ? log.losses : log.accuracies;
        if (perStep)
          assert.ok(
            stepValues.every((v) => typeof v === "number"),
            `${metric}: every step line carries it`,
          );
        const expected: [number, number][] = perStep
          ? stepValues.map((_, i) => [i + 1, smoothed(stepValues, i + 1)])
          : log.evals.map((e) => [e.step, e[metric as Exclude<typeof metric, "loss">]]);
        assert.is(pts.length, expected.length, `${metric}: a point per logged ${perStep ? "step" : "evaluation"}`);
        pts.forEach(([x, y], i) => {
          const [ex, ey] = expected[i] as [number, number];
          assert.ok(
            Math.abs(x - ex) <= tolX && Math.abs(y - ey) <= tolY,
            `${metric} point ${i}: drawn (${x}, ${y}), logged (${ex}, ${ey})`,
          );
        });
      }
    }
  } finally {
    t.cleanup();
  }
});

test("dlrm plot: the first steps' spike is clipped off the loss axis, and the panel says so; the SVG scales to its page", async () => {
  const t = tempDir();
  try {
    const log = join(t.dir, "spike.jsonl");
    const lines: string[] = [];
    for (let step = 0; step < 300; step++) {
      const loss = step < 10 ? 3 : 0.5 + 0.05 * Math.sin(step / 7);
      lines.push(JSON.stringify({ step, loss, lr: 0.1, t_ms: step }));
    }
    writeFileSync(log, `${lines.join("\n")}\n`);
    const out = join(t.dir, "spike.svg");
    const r = await runCli(["plot", log, "--out", out]);
    assert.is(r.code, 0, r.stderr);
    const svg = parseXml(readFileSync(out, "utf8"));
    assert.is(svg.attrs["width"], "100%");
    assert.match(svg.attrs["viewBox"] as string, /^0 0 720 \d+$/);
    assert.is(svg.attrs["height"], undefined);
    const panel = allElements(svg).find((e) => e.attrs["data-metric"] === "loss" && e.attrs["class"] === "panel");
    assert.ok(panel !== undefined);
    const ax = axesOf(panel);
    assert.ok(ax.yRange[1] <= 1.5, `the loss axis ends at ${ax.yRange[1]}, well below the spike`);
    assert.ok(ax.yRange[1] >= 0.55, "and above the rest of the curve");
    assert.is(Number(panel.attrs["data-clipped-above"]), ax.yRange[1]);
    const title = allElements(panel).find((e) => e.attrs["class"] === "panel-title");
    assert.match(title?.text ?? "", `y axis cut at ${ax.yRange[1]}: the first steps reach 3.00`);
  } finally {
    t.cleanup();
  }
});

test("dlrm train --plot draws the run as dlrm plot draws its --log file", async () => {
  const t = tempDir();
  try {
    const log = join(t.dir, "run.jsonl");
    const fromTrain = join(t.dir, "train.svg");
    const r = await runCli([...TRAIN, "--steps", "60", "--test-freq", "30", "--log", log, "--plot", fromTrain]);
    assert.is(r.code, 0, r.stderr);
    const fromPlot = join(t.dir, "plot.svg");
    assert.is((await runCli(["plot", log, "--out", fromPlot])).code, 0);
    const svg = readFileSync(fromTrain, "utf8");
    parseXml(svg);
    assert.is(svg, readFileSync(fromPlot, "utf8"));
    assert.is(allElements(parseXml(svg)).filter((e) => e.name === "path").length, 7); // loss, AUC, logloss, NE, calibration, training and eval accuracy
  } finally {
    t.cleanup();
  }
});

test("dlrm plot names an ensemble's members and the ensemble; leaves out a panel without data", async () => {
  const t = tempDir();
  try {
    const log = join(t.dir, "ens.jsonl");
    const lines = [
      { step: 1, loss: 0.7, member: 0 },
      { step: 2, loss: 0.6, member: 0 },
      { step: 1, loss: 0.8, member: 1 },
      { step: 2, loss: 0.5, member: 1 },
      { event: "eval", step: 2, auc: 0.7, logloss: 0.6 },
    ];
    writeFileSync(log, lines.map((l) => JSON.stringify(l)).join("\n"));
    const out = join(t.dir, "ens.svg");
    assert.is((await runCli(["plot", log, "--out", out])).code, 0);
    const els = allElements(parseXml(readFileSync(out, "utf8")));
    assert.equal(
      els.filter((e) => e.attrs["class"] === "legend-item").map((e) => e.attrs["data-run"]),
      ["ens member 0", "ens member 1", "ens ensemble"],
    );
    const series = els.filter((e) => e.name === "path").map((e) => `${e.attrs["data-metric"]}:${e.attrs["data-run"]}`);
    // the eval line predates NE and calibration and has no accuracy: their panels are left out
    assert.equal(series, ["loss:ens member 0", "loss:ens member 1", "auc:ens ensemble", "logloss:ens ensemble"]);
    // Loss only: no eval panels.
    writeFileSync(
      log,
      lines
        .slice(0, 2)
        .map((l) => JSON.stringify(l))
        .join("\n"),
    );
    assert.is((await runCli(["plot", log, "--out", out])).code, 0);
    assert.equal(
      allElements(parseXml(readFileSync(out, "utf8")))
        .filter((e) => e.attrs["class"] === "panel")
        .map((e) => e.attrs["data-metric"]),
      ["loss"],
    );
  } finally {
    t.cleanup();
  }
});

test("dlrm plot: bad input is a one-line error naming the file and line, usage errors exit 2", async () => {
  const t = tempDir();
  try {
    const log = join(t.dir, "bad.jsonl");
    writeFileSync(log, `${JSON.stringify({ step: 1, loss: 0.7 })}\nnot json\n`);
    const out = join(t.dir, "x.svg");
    let r = await runCli(["plot", log, "--out", out]);
    assert.is(r.code, 1);
    assert.is(r.stderr, `dlrm: plot: ${log}:2: not a JSON line: not json\n`.replace(log, "bad"));
    writeFileSync(log, `${JSON.stringify({ step: 1, loss: "high" })}\n`);
    r = await runCli(["plot", log, "--out", out]);
    assert.is(r.stderr, `dlrm: plot: bad:1: "loss" must be a number, got "high"\n`);
    writeFileSync(log, `${JSON.stringify({ event: "interrupted", step: 3 })}\n`);
    r = await runCli(["plot", log, "--out", out]);
    assert.is(r.code, 1);
    assert.is(r.stderr, "dlrm: plot: no steps or evaluations in bad (is it a dlrm train --log file?)\n");
    r = await runCli(["plot", join(t.dir, "missing.jsonl"), "--out", out]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^dlrm: plot: cannot read .*missing\.jsonl: ENOENT\n$/);
    assert.is((await runCli(["plot", log])).code, 2);
    assert.is((await runCli(["plot", "--out", out])).code, 2);
  } finally {
    t.cleanup();
  }
});

test("niceTicks: evenly spaced round ticks from at or below min to at or above max", () => {
  fc.assert(
    fc.property(
      fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
      (lo, width) => {
        const ticks = niceTicks(lo, lo + width);
        assert.ok((ticks[0] as number) <= lo && (ticks[ticks.length - 1] as number) >= lo + width);
        assert.ok(ticks.length >= 2 && ticks.length <= 13, `${ticks.length} ticks`);
        const step = (ticks[1] as number) - (ticks[0] as number);
        const mantissa = Number((step / 10 ** Math.floor(Math.log10(step) + 1e-9)).toPrecision(6));
        assert.ok([1, 2, 5].includes(mantissa), `step ${step}`);
      },
    ),
    { seed: 15 },
  );
});

test.run();
