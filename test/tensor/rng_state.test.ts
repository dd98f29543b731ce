// Rng.getState / Rng.fromState (src/tensor/rng.ts): what a checkpoint records of the data-order
// generator. A generator rebuilt from a state continues exactly as the original, for states
// whose words have their top bit set too (they are recorded as unsigned 32-bit integers).

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Rng } from "../../src/tensor/rng.ts";

test("fromState(getState()) continues the same stream, after any number of draws and a cached normal", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 200 }),
      fc.boolean(),
      (seed, draws, normal) => {
        const a = new Rng(seed);
        for (let i = 0; i < draws; i++) a.nextU32();
        if (normal) a.normal(); // leaves the second normal of the pair cached
        const state = JSON.parse(JSON.stringify(a.getState())) as ReturnType<Rng["getState"]>; // as a checkpoint stores it
        assert.ok(state.words.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32));
        const b = Rng.fromState(state);
        for (let i = 0; i < 20; i++) assert.is(b.normal(), a.normal());
        for (let i = 0; i < 20; i++) assert.is(b.nextU32(), a.nextU32());
      },
    ),
    { numRuns: 200 },
  );
});

test("fromState refuses states that are not four unsigned 32-bit words, or all zero", () => {
  for (const words of [
    [1, 2, 3],
    [0, 0, 0, 0],
    [-1, 0, 0, 1],
    [2 ** 32, 0, 0, 1],
    [1.5, 0, 0, 1],
  ]) {
    assert.throws(
      () => Rng.fromState({ words, spareNormal: null }),
      /Rng\.fromState: expected four unsigned 32-bit words/,
    );
  }
});

test.run();
