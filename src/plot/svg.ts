// Training curves as a plain SVG document, written by hand (no plotting library, no script,
// readable in any browser or image viewer): one panel per metric, stacked, sharing the step
// axis; each run is one colour across panels, named in the legend at the top.
//
//   training loss   the step losses smoothed as the terminal progress line smooths them
//                   (LossSmoother: bias-corrected EMA, β = 0.98), one point per step
//   eval AUC        one point per evaluation (marked), joined by a line
//   eval logloss    the same, for the evaluation's binary cross-entropy
//   eval NE         the same, for normalized entropy (logloss / entropy of the base rate)
//   eval calibration the same, for mean prediction / base rate
//   accuracy        the share of predictions on the right side of 0.5, the measure of the
//                   DLRM paper's comparison with DCN (its training and validation accuracy):
//                   each step's batch accuracy smoothed as the loss is (dashed; logs written
//                   before it lack it), and the held-out accuracy per evaluation (marked)
//
// The loss panel's y axis is fitted to the curves past their first tenth of points, when the
// first steps' spike (an untrained model's loss, several times the rest) would otherwise
// flatten everything after it: the spike is clipped at the panel's top edge, its path keeps
// its true coordinates (cut by a clipPath; data-clipped-above on the panel gives the limit),
// and the panel's title says where it is clipped and how high the curve goes.
// The document scales to its container (width 100%, its height from the viewBox), so it never
// overflows a narrow page; WIDTH is its natural width.
//
// A panel no run has data for is left out. A curve longer than MAX_POINTS is thinned to
// every k-th point (and the last), which a smoothed curve does not show at this size.
// Axes end on "nice" ticks (1, 2 or 5 × 10^k apart) that contain every drawn point.
//
// The markup is regular so that programs can read it back: each curve is one
// <path class="series" data-run data-metric>, each panel's plotting area a
// <rect class="plot-area">, each tick label a <text class="tick-x|tick-y" data-value>
// positioned exactly at its tick (dominant-baseline/text-anchor centre it there).

import type { Run } from "./runlog.ts";
import { LossSmoother } from "../train/progress.ts";
import { OpError } from "../tensor/shape.ts";

/** Curves with more points than this are thinned before drawing. */
export const MAX_POINTS = 2000;

const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
];
const WIDTH = 720;
const PANEL_HEIGHT = 210;
const MARGIN = { left: 76, right: 20, top: 26, bottom: 46 };
const LEGEND_ROW = 18;
const CHAR_WIDTH = 7; // an estimate of one 12px sans-serif character, for laying out the legend

type Metric = "loss" | "auc" | "logloss" | "ne" | "calibration" | "accuracy";

/** A curve's data-metric: the panel's metric, or the training accuracy in the accuracy panel. */
type Series = Metric | "train-accuracy";

interface Curve {
  run: number;
  name: string;
  series: Series;
  /** Per-step curves are plain lines (dashed beside evaluations in one panel); per-evaluation ones are marked. */
  style: "line" | "dashed" | "marked";
  /** [step, value] pairs, finite values only. */
  points: [number, number][];
}

interface Panel {
  metric: Metric;
  title: string;
  yLabel: string;
  /** Fit the y axis past the first steps' spike (the loss), clipping it. */
  robustTop: boolean;
  /** One curve per run and series that has data here. */
  curves: Curve[];
}

export interface PlotOptions {
  /** The heading above the legend; default none. */
  title?: string;
}

/** The SVG document for these runs' curves. */
export function plotRunsSvg(runs: readonly Run[], opts: PlotOptions = {}): string {
  const panels = panelsOf(runs).filter((p) => p.curves.length > 0);
  if (panels.length === 0)
    throw new OpError(
      "plot",
      `no finite loss, AUC, logloss, NE, calibration or accuracy to draw in ${runs.map((r) => r.name).join(", ") || "no runs"}`,
    );
  const allSteps = panels.flatMap((p) => p.curves.flatMap((c) => c.points.map(([x]) => x)));
  const xTicks = niceTicks(Math.min(...allSteps), Math.max(...allSteps));

  const out: string[] = [];
  let y = 8;
  if (opts.title !== undefined) {
    out.push(
      `<text x="${WIDTH / 2}" y="${y + 14}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>`,
    );
    y += 24;
  }
  y = legend(out, runs, y);
  for (const panel of panels) {
    drawPanel(out, panel, xTicks, y);
    y += PANEL_HEIGHT;
  }
  const height = Math.ceil(y + 6);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 ${WIDTH} ${height}" style="max-width: ${WIDTH}px; height: auto" font-family="sans-serif" font-size="12">\n` +
    `<rect width="${WIDTH}" height="${height}" fill="white"/>\n` +
    `${out.join("\n")}\n</svg>\n`
  );
}

function panelsOf(runs: readonly Run[]): Panel[] {
  const finite = (points: [number, number][]): [number, number][] => points.filter(([, v]) => Number.isFinite(v));
  const curves = (series: Series, style: Curve["style"], pick: (r: Run) => [number, number][]): Curve[] =>
    runs
      .map((r, run) => ({ run, name: r.name, series, style, points: thin(finite(pick(r))) }))
      .filter((c) => c.points.length > 0);
  const evals = (metric: Exclude<Metric, "loss">): Curve[] =>
    curves(metric, "marked", (r) => r.evals.map((e) => [e.step, e[metric]]));
  /** A per-step value smoothed as the progress bar smooths the loss; a missing (NaN) value is skipped, not smoothed in. */
  const smoothed = (value: (s: Run["steps"][number]) => number) => (r: Run) => {
    const smoother = new LossSmoother();
    return r.steps
      .filter((s) => Number.isFinite(value(s)))
      .map((s): [number, number] => [s.step, smoother.add(value(s))]);
  };
  return [
    {
      metric: "loss",
      title: "training loss (EMA, β = 0.98, as the progress bar)",
      yLabel: "BCE loss (nats)",
      robustTop: true,
      curves: curves(
        "loss",
        "line",
        smoothed((s) => s.loss),
      ),
    },
    {
      metric: "auc",
      title: "held-out AUC per evaluation",
      yLabel: "AUC (0-1)",
      robustTop: false,
      curves: evals("auc"),
    },
    {
      metric: "logloss",
      title: "held-out logloss per evaluation",
      yLabel: "logloss (nats)",
      robustTop: false,
      curves: evals("logloss"),
    },
    {
      metric: "ne",
      title: "held-out normalized entropy per evaluation (1 = predicting the base rate)",
      yLabel: "NE",
      robustTop: false,
      curves: evals("ne"),
    },
    {
      metric: "calibration",
      title: "held-out calibration per evaluation (mean prediction / base rate)",
      yLabel: "calibration",
      robustTop: false,
      curves: evals("calibration"),
    },
    {
      metric: "accuracy",
      title: "accuracy (prediction > 0.5 as a click): training, dashed (EMA, β = 0.98); held-out, marked",
      yLabel: "accuracy (0-1)",
      robustTop: false,
      curves: [
        ...curves(
          "train-accuracy",
          "dashed",
          smoothed((s) => s.accuracy),
        ),
        ...evals("accuracy"),
      ],
    },
  ];
}

/** Every k-th point and the last, so that at most MAX_POINTS remain. */
function thin(points: [number, number][]): [number, number][] {
  if (points.length <= MAX_POINTS) return points;
  const k = Math.ceil(points.length / MAX_POINTS);
  const kept = points.filter((_, i) => i % k === 0);
  if ((points.length - 1) % k !== 0) kept.push(points[points.length - 1]);
  return kept;
}

/** The legend rows from top `y`; returns the y below them. */
function legend(out: string[], runs: readonly Run[], y: number): number {
  let x = MARGIN.left;
  let row = y + LEGEND_ROW / 2;
  out.push(`<g class="legend">`);
  runs.forEach((r, i) => {
    const width = 28 + r.name.length * CHAR_WIDTH + 18;
    if (x + width > WIDTH - MARGIN.right && x > MARGIN.left) {
      x = MARGIN.left;
      row += LEGEND_ROW;
    }
    const color = colorOf(i);
    out.push(
      `<g class="legend-item" data-run="${escapeXml(r.name)}"><line x1="${x}" y1="${row}" x2="${x + 22}" y2="${row}" stroke="${color}" stroke-width="2.5"/>` +
        `<text x="${x + 28}" y="${row}" dominant-baseline="middle">${escapeXml(r.name)}</text></g>`,
    );
    x += width;
  });
  out.push(`</g>`);
  return row + LEGEND_ROW / 2;
}

function drawPanel(out: string[], panel: Panel, xTicks: number[], panelTop: number): void {
  const values = panel.curves.flatMap((c) => c.points.map(([, v]) => v));
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const top = panel.robustTop ? robustTop(panel.curves, low, high) : high;
  const yTicks = niceTicks(low, top);
  const clipped = top < high;
  const area = {
    x: MARGIN.left,
    y: panelTop + MARGIN.top,
    w: WIDTH - MARGIN.left - MARGIN.right,
    h: PANEL_HEIGHT - MARGIN.top - MARGIN.bottom,
  };
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number): number => area.x + ((x - x0) / (x1 - x0)) * area.w;
  const py = (v: number): number => area.y + area.h - ((v - y0) / (y1 - y0)) * area.h;
  const xDigits = decimals(xTicks);
  const yDigits = decimals(yTicks);

  const yTop = yTicks[yTicks.length - 1];
  const clipId = `clip-${panel.metric}`;
  const clip = clipped ? ` data-clipped-above="${yTop}"` : "";
  out.push(`<g class="panel" data-metric="${panel.metric}"${clip}>`);
  const note = clipped ? `; y axis cut at ${yTop}: the first steps reach ${high.toPrecision(3)}` : "";
  out.push(
    `<text class="panel-title" x="${area.x}" y="${panelTop + MARGIN.top - 8}" font-weight="bold">${escapeXml(panel.title + note)}</text>`,
  );
  if (clipped)
    out.push(
      `<clipPath id="${clipId}"><rect x="${area.x}" y="${area.y}" width="${area.w}" height="${area.h}"/></clipPath>`,
    );
  for (const t of xTicks) {
    const x = fmt(px(t));
    out.push(`<line x1="${x}" y1="${area.y}" x2="${x}" y2="${area.y + area.h}" stroke="#e4e4e4"/>`);
    out.push(
      `<text class="tick-x" data-value="${t}" x="${x}" y="${area.y + area.h + 14}" text-anchor="middle" dominant-baseline="middle">${t.toFixed(xDigits)}</text>`,
    );
  }
  for (const t of yTicks) {
    const yy = fmt(py(t));
    out.push(`<line x1="${area.x}" y1="${yy}" x2="${area.x + area.w}" y2="${yy}" stroke="#e4e4e4"/>`);
    out.push(
      `<text class="tick-y" data-value="${t}" x="${area.x - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${t.toFixed(yDigits)}</text>`,
    );
  }
  out.push(
    `<rect class="plot-area" x="${area.x}" y="${area.y}" width="${area.w}" height="${area.h}" fill="none" stroke="#888"/>`,
  );
  out.push(
    `<text x="${area.x + area.w / 2}" y="${area.y + area.h + 34}" text-anchor="middle">step (optimizer steps)</text>`,
  );
  const cy = area.y + area.h / 2;
  out.push(
    `<text x="18" y="${cy}" text-anchor="middle" transform="rotate(-90 18 ${cy})">${escapeXml(panel.yLabel)}</text>`,
  );
  for (const c of panel.curves) {
    const color = colorOf(c.run);
    const d = c.points.map(([x, v], i) => `${i === 0 ? "M" : "L"}${fmt(px(x))},${fmt(py(v))}`).join(" ");
    const dash = c.style === "dashed" ? ` stroke-dasharray="5 3"` : "";
    out.push(
      `<path class="series" data-metric="${c.series}" data-run="${escapeXml(c.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.6"${dash}${clipped ? ` clip-path="url(#${clipId})"` : ""}/>`,
    );
    if (c.style === "marked")
      for (const [x, v] of c.points)
        out.push(`<circle class="marker" cx="${fmt(px(x))}" cy="${fmt(py(v))}" r="2.8" fill="${color}"/>`);
  }
  out.push(`</g>`);
}

/** Points of each curve before this fraction of it are left out of a robust top. */
const SPIKE_FRACTION = 0.1;

/**
 * The top of a y axis that leaves out the first steps' spike: the highest value of the curves
 * past their first SPIKE_FRACTION of points, when the whole range would be more than twice as
 * tall as that; else the highest value (nothing to clip).
 */
function robustTop(curves: Panel["curves"], low: number, high: number): number {
  const rest = curves.flatMap((c) => c.points.slice(Math.floor(c.points.length * SPIKE_FRACTION)).map(([, v]) => v));
  if (rest.length === 0) return high;
  const top = Math.max(...rest);
  return high - low > 2 * (top - low) ? top : high;
}

/**
 * Evenly spaced round values from at or below `min` to at or above `max`, about `target`
 * intervals: the step is 1, 2 or 5 × 10^k. A single value (or a span below float resolution)
 * gets an interval of ±5 % around it.
 */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max)
    throw new OpError("niceTicks", `need finite min <= max, got ${min} and ${max}`);
  // A span below float resolution at this magnitude has no round ticks inside: one value.
  if (max - min <= 1e-9 * Math.max(Math.abs(min), Math.abs(max)) || max - min < 1e-200) {
    const mid = (min + max) / 2;
    const pad = Math.abs(mid) < 1e-200 ? 1 : Math.abs(mid) * 0.05;
    min = mid - pad;
    max = mid + pad;
  }
  const raw = (max - min) / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  const lo = Math.floor(min / step);
  const hi = Math.ceil(max / step);
  const ticks: number[] = [];
  for (let k = lo; k <= hi; k++) ticks.push(Number((k * step).toPrecision(12))); // k·step, without 0.30000000000000004
  // Rounding to 12 digits never moves an end past its value by more than that; guard anyway.
  if (ticks[0] > min) ticks.unshift(Number(((lo - 1) * step).toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number(((hi + 1) * step).toPrecision(12)));
  return ticks;
}

/** Decimal places that tell these evenly spaced ticks apart. */
function decimals(ticks: number[]): number {
  const step = ticks[1] - ticks[0];
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

function colorOf(run: number): string {
  return PALETTE[run % PALETTE.length];
}

/** A coordinate with two decimals, without trailing zeros. */
function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
