// Training progress for people: on a terminal, one line redrawn in place with a bar,
// step/total, the smoothed loss, samples/s and the time left; elsewhere (a pipe, a log
// file, CI) plain lines, one every `every` steps and one at the last step:
//
//   step 100/1000  loss 0.6931  1234 samples/s  eta 12s
//
// The loss on a plain line is the mean over the steps since the previous line, as the
// reference DLRM prints it (the mean over --print-freq iterations); samples/s and eta are
// measured over the same steps. On a terminal the loss is an exponential moving average
// (β = 0.98, bias-corrected as in Adam, so the first value is the first loss), and samples/s
// and eta are measured from the construction of the Progress, so make it just before the
// loop. The terminal line is redrawn at most every 100 ms, and always at the last step.
//
// Output goes to stderr by default so that stdout stays free for results (the final JSON
// metrics line).

import { hostStderr } from "../kernels/host.ts";
import { OpError } from "../tensor/shape.ts";

export interface ProgressInfo {
  /** Steps done so far, 1-based: the last update has step === totalSteps. */
  step: number;
  totalSteps: number;
  /** Samples processed so far (cumulative). */
  samples: number;
  /** This step's loss. */
  loss: number;
}

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  out?: NodeJS.WriteStream | ProgressOutput;
  /** Steps between plain lines (not a terminal); default 100. */
  every?: number;
  /** Printed before each line, e.g. "train". */
  label?: string;
  /** The clock in milliseconds (default performance.now); tests pass a fake one. */
  now?: () => number;
}

const BAR_WIDTH = 24;
/** Redraw a terminal progress line at most this often. */
export const REDRAW_MS = 100;
/** The terminal line's loss smoothing: weight of the previous average per step. */
export const EMA_BETA = 0.98;
/** ANSI: clear from the cursor to the end of the line (after a \r redraw). */
export const CLEAR_TO_EOL = "\x1b[K";

/** `[=====     ]`: a bar BAR_WIDTH wide, filled to fraction (clamped to [0, 1]). */
export function progressBar(fraction: number): string {
  const filled = Math.round(BAR_WIDTH * Math.min(1, Math.max(0, fraction)));
  return `[${"=".repeat(filled)}${" ".repeat(BAR_WIDTH - filled)}]`;
}

/**
 * The loss a terminal progress line shows: an exponential moving average of the step losses
 * (β = EMA_BETA), bias-corrected as in Adam so the first value is the first loss and early
 * values are not pulled towards 0. `dlrm plot` draws the same curve.
 */
export class LossSmoother {
  #ema = 0;
  #count = 0;

  /** Take one step's loss; returns the smoothed loss after it. */
  add(loss: number): number {
    this.#count++;
    this.#ema = EMA_BETA * this.#ema + (1 - EMA_BETA) * loss;
    return this.value;
  }

  /** The smoothed loss so far (NaN before the first step). */
  get value(): number {
    return this.#count === 0 ? Number.NaN : this.#ema / (1 - EMA_BETA ** this.#count);
  }
}

export class Progress {
  readonly #out: ProgressOutput;
  readonly #tty: boolean;
  readonly #every: number;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #start: number;
  // plain lines: the window since the previous line
  #winTime: number;
  #winStep = 0;
  #winSamples = 0;
  #winLossSum = 0;
  #winCount = 0;
  // terminal: the smoothed loss and the pending (not yet drawn) state
  readonly #smoother = new LossSmoother();
  #lastDraw = Number.NEGATIVE_INFINITY;
  #pending: ProgressInfo | null = null;
  #drawn = false;

  constructor(opts: ProgressOptions = {}) {
    const every = opts.every ?? 100;
    if (!Number.isInteger(every) || every < 1)
      throw new OpError("Progress", `every must be an integer >= 1, got ${String(every)}`);
    this.#out = opts.out ?? hostStderr();
    this.#tty = this.#out.isTTY === true;
    this.#every = every;
    this.#prefix = opts.label ? `${opts.label} ` : "";
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#winTime = this.#start;
  }

  update(info: ProgressInfo): void {
    const { step, totalSteps } = info;
    if (!Number.isInteger(totalSteps) || totalSteps < 1 || !Number.isInteger(step) || step < 1 || step > totalSteps) {
      throw new OpError(
        "Progress.update",
        `step must be an integer in [1, totalSteps], got step ${step} of ${totalSteps}`,
      );
    }
    if (this.#tty) this.#updateTTY(info);
    else this.#updatePlain(info);
  }

  /** End the progress display: finish the terminal line, then print message (if any) on its own line. */
  done(message?: string): void {
    if (this.#tty) {
      if (this.#pending !== null) this.#draw(this.#pending);
      if (this.#drawn) this.#out.write("\n");
      this.#drawn = false;
    }
    if (message !== undefined) this.#out.write(`${message}\n`);
  }

  #updatePlain(info: ProgressInfo): void {
    this.#winLossSum += info.loss;
    this.#winCount++;
    if (info.step % this.#every !== 0 && info.step !== info.totalSteps) return;
    const t = this.#now();
    const seconds = (t - this.#winTime) / 1000;
    const steps = info.step - this.#winStep;
    const rate = rateText(info.samples - this.#winSamples, seconds);
    const eta = etaText(info.totalSteps - info.step, seconds, steps);
    const loss = this.#winLossSum / this.#winCount;
    this.#out.write(
      `${this.#prefix}step ${info.step}/${info.totalSteps}  loss ${loss.toFixed(4)}  ${rate} samples/s  eta ${eta}\n`,
    );
    this.#winTime = t;
    this.#winStep = info.step;
    this.#winSamples = info.samples;
    this.#winLossSum = 0;
    this.#winCount = 0;
  }

  #updateTTY(info: ProgressInfo): void {
    this.#smoother.add(info.loss);
    const t = this.#now();
    if (info.step === info.totalSteps || t - this.#lastDraw >= REDRAW_MS) {
      this.#lastDraw = t;
      this.#draw(info, t);
    } else {
      this.#pending = info;
    }
  }

  #draw(info: ProgressInfo, t: number = this.#now()): void {
    this.#pending = null;
    const seconds = (t - this.#start) / 1000;
    const loss = this.#smoother.value;
    const bar = progressBar(info.step / info.totalSteps);
    let line =
      `${this.#prefix}${bar} ${info.step}/${info.totalSteps}  loss ${loss.toFixed(4)}  ` +
      `${rateText(info.samples, seconds)} samples/s  eta ${etaText(info.totalSteps - info.step, seconds, info.step)}`;
    // A line longer than the terminal wraps, and \r then redraws only its last part.
    const cols = this.#out.columns;
    if (typeof cols === "number" && cols > 1 && line.length > cols - 1) line = line.slice(0, cols - 1);
    this.#out.write(`\r${line}${CLEAR_TO_EOL}`);
    this.#drawn = true;
  }
}

/** Samples per second as an integer, or "-" before any time has passed. */
function rateText(samples: number, seconds: number): string {
  return seconds > 0 ? String(Math.round(samples / seconds)) : "-";
}

/** Time left for `remaining` steps at `seconds` per `steps`: "12s", "3m05s", "1h02m"; "-" when unknown. */
function etaText(remaining: number, seconds: number, steps: number): string {
  if (remaining === 0) return "0s";
  if (!(seconds > 0) || steps <= 0) return "-";
  return formatDuration((remaining * seconds) / steps);
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
