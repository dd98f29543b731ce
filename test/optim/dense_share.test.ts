// step(share): every optimizer updates only the given elements of a dense parameter and of
// its element-wise state, with the bits of the whole update there, so that ranks which each
// update their chunk and then exchange the chunks (src/parallel/rank.ts) end where one whole
// update ends.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { makeOptimizer, optimizerSpec, OPTIMIZERS, stateArray, stateTensors } from "../../src/optim/make.ts";
import type { DenseShare, Optimizer } from "../../src/optim/optimizer.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { rand, type Tensor } from "../../src/tensor/tensor.ts";
import { assertThrows } from "../../src/testing/index.ts";

const SHAPES = [[5, 7], [9], [3, 4]] as const;

function params(seed: number): [string, Tensor][] {
  const rng = new Rng(seed);
  return SHAPES.map((s, i) => [`p${i}`, rand([...s], { rng, lo: -1, hi: 1, requiresGrad: true })]);
}

/** The arrays a step writes for parameter i: its data, then its element-wise state. */
function written(opt: Optimizer, kind: (typeof OPTIMIZERS)[number], i: number): Float32Array[] {
  const p = opt.params[i] as Tensor;
  const spec = optimizerSpec(kind, 0.1);
  return [
    p.data as Float32Array,
    ...stateTensors(spec, p.shape, false).map((s) => stateArray(opt, i, s.key) as Float32Array),
  ];
}

test("step(share) on two halves, the halves then exchanged, gives the whole step's bits (every optimizer, weight decay)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...OPTIMIZERS),
      fc.integer({ min: 0, max: 1 << 30 }),
      fc.integer({ min: 1, max: 4 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (kind, seed, steps, cut) => {
        const spec = optimizerSpec(kind, 0.05, { weightDecay: { p0: 1e-2 } });
        const whole = makeOptimizer(spec, params(seed));
        const halves = [makeOptimizer(spec, params(seed)), makeOptimizer(spec, params(seed))];
        const cuts = SHAPES.map((s) => Math.floor(cut * s.reduce((a, b) => a * b, 1)));
        const shares: DenseShare[] = [
          new Map(cuts.map((k, i) => [i, [0, k] as const])),
          new Map(cuts.map((k, i) => [i, [k, (whole.params[i] as Tensor).size] as const])),
        ];
        const rng = new Rng(seed + 1);
        for (let s = 0; s < steps; s++) {
          for (let i = 0; i < SHAPES.length; i++) {
            const g = new Float32Array((whole.params[i] as Tensor).size);
            for (let j = 0; j < g.length; j++) g[j] = rng.uniformIn(-1, 1);
            (whole.params[i] as Tensor).grad = g.slice();
            for (const h of halves) (h.params[i] as Tensor).grad = g.slice();
          }
          const before = halves.map((h) => SHAPES.map((_, i) => written(h, kind, i).map((a) => a.slice())));
          whole.step();
          halves.forEach((h, k) => h.step(shares[k]));
          // Outside its share a half left everything as it was.
          halves.forEach((h, k) =>
            SHAPES.forEach((_, i) => {
              const [from, to] = (shares[k] as DenseShare).get(i) as readonly [number, number];
              written(h, kind, i).forEach((a, l) => {
                const was = (before[k] as Float32Array[][])[i]?.[l] as Float32Array;
                for (let j = 0; j < a.length; j++)
                  if (j < from || j >= to) assert.is(Object.is(a[j], was[j]), true, `${kind}: element ${j} moved`);
              });
            }),
          );
          // Exchange the halves, as the all-gather does.
          SHAPES.forEach((_, i) => {
            const k = cuts[i] as number;
            const [a, b] = [written(halves[0] as Optimizer, kind, i), written(halves[1] as Optimizer, kind, i)];
            a.forEach((x, l) => {
              const y = b[l] as Float32Array;
              x.set(y.subarray(k), k);
              y.set(x.subarray(0, k), 0);
            });
          });
        }
        SHAPES.forEach((_, i) => {
          const want = written(whole, kind, i);
          for (const h of halves)
            written(h, kind, i).forEach((a, l) =>
              assert.equal(Array.from(a), Array.from(want[l] as Float32Array), `${kind} parameter ${i} array ${l}`),
            );
        });
      },
    ),
    { numRuns: 40 },
  );
});

test("step(share) names a share that is not a range of the parameter", () => {
  for (const kind of OPTIMIZERS) {
    const opt = makeOptimizer(optimizerSpec(kind, 0.1), params(3));
    (opt.params[1] as Tensor).grad = new Float32Array(9);
    assertThrows(
      () => opt.step(new Map([[1, [4, 10]]])),
      /share of parameter 1 is \[4, 10\), not a range of its 9 elements/,
    );
  }
});

test.run();
