// Where a rank is, for the main thread: its phase and step in the shared status words (read
// by the watchdog and named in errors), the time spent in each phase of a step, and the
// fault a test injects at a given rank, step and phase (exit, throw, or stall).

import { hostExit } from "../kernels/host.ts";
import { PHASES, STEP_PHASES, statusHeartbeat, statusPhase, statusStep, type Fault, type Phase } from "./protocol.ts";

export class RankStatus {
  readonly #control: Int32Array;
  readonly #r: number;
  readonly #fault: Fault | null;
  #phase: Phase = "starting";
  #step = -1;
  #phaseStart = 0;
  /** ms spent in each of STEP_PHASES since reset(). */
  readonly times = new Float64Array(STEP_PHASES.length);

  constructor(control: Int32Array, r: number, fault: Fault | null) {
    this.#control = control;
    this.#r = r;
    this.#fault = fault;
  }

  get phase(): Phase {
    return this.#phase;
  }

  get step(): number {
    return this.#step;
  }

  /** Start timing a new step. */
  reset(): void {
    this.times.fill(0);
  }

  /** Record where this rank is, and time the phase it leaves. */
  enter(phase: Phase, step: number): void {
    const now = performance.now();
    const k = (STEP_PHASES as readonly string[]).indexOf(this.#phase);
    if (k >= 0) this.times[k] += now - this.#phaseStart;
    this.#phase = phase;
    this.#step = step;
    this.#phaseStart = now;
    const r = this.#r;
    Atomics.store(this.#control, statusPhase(r), PHASES.indexOf(phase));
    Atomics.store(this.#control, statusStep(r), step);
    Atomics.add(this.#control, statusHeartbeat(r), 1);
    const f = this.#fault;
    if (f !== null && f.rank === r && f.step === step && f.phase === phase) {
      if (f.action === "exit") hostExit(7);
      if (f.action === "throw") throw new Error(`injected fault in step ${step}, phase "${phase}"`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, f.ms ?? 60_000);
    }
  }
}
