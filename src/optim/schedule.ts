// The learning-rate schedule of the reference DLRM: LRPolicyScheduler in
// facebookresearch/dlrm dlrm_s_pytorch.py (flags --lr-num-warmup-steps W,
// --lr-decay-start-step D, --lr-num-decay-steps N), followed exactly. With c the scheduler's
// step count and base the optimizer's lr when the schedule was made:
//
//   c < W              warm-up:  lr = base · (1 − (W − c)/W)             (= base · c/W)
//   D ≤ c < D + N      decay:    lr = max(1e-7, base · ((N − (c − D))/N)²)
//   otherwise          N > 0:    the last lr set by one of the two rules above (frozen)
//                      N = 0:    base
//
// Details that follow from the reference, and hold here too:
// - Constructing the schedule is already its first step (PyTorch's _LRScheduler calls
//   step() in __init__), so c = 1 right away: the first training step runs with
//   base/W, not 0, and training step k (0-based) runs with the value at c = k + 1. The
//   training loop calls optimizer.step() and then scheduler.step(), as the reference does.
// - The floor is an absolute 1e-7 (`min_lr = 0.0000001`), not relative to base.
// - Between the end of warm-up and D > W, lr stays frozen at the last warm-up value,
//   base·(W−1)/W, not base (the "freeze at last" branch).
// - D < W is refused ("Learning rate warmup must finish before the decay starts").
// One deliberate difference: when the freeze branch is reached before any rule set an lr
// (W ≤ 1, D ≥ 2, N > 0), the reference fails (self.last_lr does not exist yet); here lr stays
// at base, the only lr there has been.

import { OpError } from "../tensor/shape.ts";
/** What a schedule drives: an optimizer, or any holder of the learning rate of the next step. */
export interface LearningRateHolder {
  lr: number;
}

export interface LRPolicyOptions {
  /** W: warm-up steps (0 = none). */
  warmupSteps: number;
  /** D: the step count at which the decay starts; must be ≥ W. */
  decayStartStep: number;
  /** N: decay steps (0 = no decay: base lr after warm-up). */
  numDecaySteps: number;
}

/** The reference's absolute learning-rate floor during decay. */
export const MIN_DECAY_LR = 1e-7;

export class LRPolicyScheduler {
  readonly optimizer: LearningRateHolder;
  readonly baseLr: number;
  readonly warmupSteps: number;
  readonly decayStartStep: number;
  readonly numDecaySteps: number;
  #stepCount = 0;
  #lr: number;
  /** The last lr set by the warm-up or decay rule, or null when neither has applied yet. */
  #lastRuleLr: number | null = null;

  constructor(opt: LearningRateHolder, opts: LRPolicyOptions) {
    const op = "LRPolicyScheduler";
    for (const name of ["warmupSteps", "decayStartStep", "numDecaySteps"] as const) {
      const v = opts[name];
      if (!Number.isInteger(v) || v < 0) throw new OpError(op, `${name} must be an integer >= 0, got ${String(v)}`);
    }
    if (opts.decayStartStep < opts.warmupSteps) {
      throw new OpError(
        op,
        `learning rate warm-up must finish before the decay starts — decayStartStep=${opts.decayStartStep} < warmupSteps=${opts.warmupSteps}`,
      );
    }
    if (!Number.isFinite(opt.lr) || opt.lr < 0)
      throw new OpError(op, `the optimizer's lr must be a finite number >= 0, got ${opt.lr}`);
    this.optimizer = opt;
    this.baseLr = opt.lr;
    this.warmupSteps = opts.warmupSteps;
    this.decayStartStep = opts.decayStartStep;
    this.numDecaySteps = opts.numDecaySteps;
    this.#lr = opt.lr;
    this.step(); // as PyTorch's _LRScheduler.__init__: c = 1 before the first training step
  }

  /** The lr this schedule last gave the optimizer. */
  get lr(): number {
    return this.#lr;
  }

  /** c: how many times step() has run, counting the one in the constructor. */
  get stepCount(): number {
    return this.#stepCount;
  }

  /** Advance c and set the optimizer's lr for the next training step. */
  step(): void {
    this.#stepCount++;
    this.#lr = this.#lrAt(this.#stepCount);
    this.optimizer.lr = this.#lr;
  }

  #lrAt(c: number): number {
    const W = this.warmupSteps;
    const D = this.decayStartStep;
    const N = this.numDecaySteps;
    const base = this.baseLr;
    if (c < W) {
      const scale = 1.0 - (W - c) / W; // the reference's expression, for the same rounding
      this.#lastRuleLr = base * scale;
      return this.#lastRuleLr;
    }
    if (D <= c && c < D + N) {
      const scale = ((N - (c - D)) / N) ** 2;
      this.#lastRuleLr = Math.max(MIN_DECAY_LR, base * scale);
      return this.#lastRuleLr;
    }
    if (N > 0) return this.#lastRuleLr ?? base; // frozen (after the decay, or between warm-up and decay)
    return base;
  }
}
