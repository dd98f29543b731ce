// LRPolicyScheduler against values computed by hand from the reference's rules (see the
// table in src/optim/schedule.ts); c is the scheduler's step count, 1 right after construction.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { LRPolicyScheduler } from "../../src/optim/schedule.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { zeros } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";

/** The lr at c = 1, 2, ..., n for a fresh SGD with the given base lr. */
function lrs(base: number, W: number, D: number, N: number, n: number): number[] {
  const opt = new SGD([zeros([1], { requiresGrad: true })], { lr: base });
  const s = new LRPolicyScheduler(opt, { warmupSteps: W, decayStartStep: D, numDecaySteps: N });
  const out: number[] = [];
  for (let c = 1; c <= n; c++) {
    assert.is(s.stepCount, c);
    assert.is(opt.lr, s.lr, "the schedule's lr is the optimizer's");
    out.push(s.lr);
    s.step();
  }
  return out;
}

// Hand-computed values agree with the float64 results to ~1 ulp; 1e-15 relative.
const TOL = { atol: 0, rtol: 1e-15 };

test("warm-up then decay: W=4, D=4, N=4, base 0.1 (construction is already step 1, as in PyTorch)", () => {
  // c=1..3: 0.1·c/4; c=4..7: 0.1·((4−(c−4))/4)² = 0.1, 0.05625, 0.025, 0.00625; then frozen
  assertClose(lrs(0.1, 4, 4, 4, 9), [0.025, 0.05, 0.075, 0.1, 0.05625, 0.025, 0.00625, 0.00625, 0.00625], TOL);
});

test("between warm-up and a later decay the lr stays at the last warm-up value: W=3, D=6, N=2, base 1", () => {
  // c=1,2: 1/3, 2/3; c=3..5: frozen at 2/3 (not 1: the reference's "freeze at last"); c=6: 1; c=7: (1/2)² = 0.25; then frozen
  assertClose(lrs(1, 3, 6, 2, 9), [1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 1, 0.25, 0.25, 0.25], TOL);
});

test("the decay floor is an absolute 1e-7 and the value after the decay is frozen", () => {
  // base 1e-3, no warm-up, decay from c=0 over 1000 steps: c=1 → 1e-3·0.999² = 9.98001e-4;
  // c=995 → 1e-3·0.005² = 2.5e-8 → floor 1e-7; c=999 → 1e-9 → 1e-7; c ≥ 1000 frozen at 1e-7.
  const v = lrs(1e-3, 0, 0, 1000, 1002);
  assertClose([v[0], v[994], v[998], v[999], v[1001]] as number[], [9.98001e-4, 1e-7, 1e-7, 1e-7, 1e-7], TOL);
  // c=900 is above the floor: 1e-3·0.1² = 1e-5
  assertClose([v[899] as number], [1e-5], { atol: 0, rtol: 1e-12 });
  // the floor is not relative to base: a base below 1e-7 is raised to 1e-7 during the decay
  assertClose(lrs(1e-8, 0, 0, 10, 2), [1e-7, 1e-7], TOL);
});

test("no decay (N = 0): base after warm-up; all zeros (the reference's defaults): always base", () => {
  assertClose(lrs(0.4, 2, 5, 0, 5), [0.2, 0.4, 0.4, 0.4, 0.4], TOL);
  assertClose(lrs(0.01, 0, 0, 0, 3), [0.01, 0.01, 0.01], TOL);
  // W ≤ 1 with a later decay: the reference fails (last_lr unset); here base until the decay
  assertClose(lrs(0.2, 0, 3, 2, 5), [0.2, 0.2, 0.2, 0.05, 0.05], TOL);
});

test("in a training loop the first optimizer step already uses base/W", () => {
  const w = zeros([1], { requiresGrad: true });
  const opt = new SGD([w], { lr: 1 });
  const sched = new LRPolicyScheduler(opt, { warmupSteps: 2, decayStartStep: 2, numDecaySteps: 0 });
  for (let k = 0; k < 3; k++) {
    w.grad = Float32Array.from([1]);
    opt.step(); // step k uses the lr at c = k + 1: 0.5, 1, 1
    sched.step();
  }
  assert.is(w.data[0], -2.5); // −(0.5 + 1 + 1), exact in float32
});

test("properties: warm-up rises to base, decay falls, all in (0, max(base, 1e-7)], decay ≥ 1e-7, then constant", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 20 }),
      fc.double({ min: 1e-9, max: 10, noNaN: true }),
      (W, gap, N, base) => {
        const D = W + gap;
        const v = lrs(base, W, D, N, D + N + 5);
        for (let c = 2; c < W; c++) assert.ok((v[c - 1] as number) > (v[c - 2] as number), `warm-up rises at c=${c}`);
        for (let c = Math.max(D + 1, 2); c < D + N; c++)
          assert.ok((v[c - 1] as number) <= (v[c - 2] as number), `decay falls at c=${c}`);
        for (const x of v)
          assert.ok(x > 0 && x <= Math.max(base, 1e-7) * (1 + 1e-15), `lr ${x} outside (0, max(base, 1e-7)]`);
        for (let c = Math.max(D, 1); c < D + N; c++) assert.ok((v[c - 1] as number) >= 1e-7, `decay floor at c=${c}`);
        const tail = v.slice(D + N);
        assert.ok(
          tail.every((x) => x === tail[0]),
          "constant after the decay",
        );
        if (N > 0 && D >= 1) assertClose([v[D - 1] as number], [Math.max(base, 1e-7)], TOL); // c = D: scale 1
      },
    ),
    { seed: 301, numRuns: 60 },
  );
});

test("validation: decay before the end of warm-up, and bad step counts, are errors", () => {
  const opt = new SGD([zeros([1], { requiresGrad: true })], { lr: 0.1 });
  assertThrows(
    () => new LRPolicyScheduler(opt, { warmupSteps: 10, decayStartStep: 5, numDecaySteps: 3 }),
    /^LRPolicyScheduler: learning rate warm-up must finish before the decay starts — decayStartStep=5 < warmupSteps=10/,
  );
  assertThrows(
    () => new LRPolicyScheduler(opt, { warmupSteps: -1, decayStartStep: 0, numDecaySteps: 0 }),
    /^LRPolicyScheduler: warmupSteps must be an integer >= 0, got -1/,
  );
  assertThrows(
    () => new LRPolicyScheduler(opt, { warmupSteps: 0, decayStartStep: 0, numDecaySteps: 1.5 }),
    /numDecaySteps must be an integer >= 0, got 1.5/,
  );
  assert.is(opt.lr, 0.1, "a refused schedule leaves the optimizer alone");
});

test.run();
