// Rng.getState / Rng.fromState (src/tensor/rng.ts): what a checkpoint records of the data-order
// generator. A generator rebuilt from a state continues exactly as the original, for states
// whose words have their top bit set too (they are recorded as unsigned 32-bit integers).
// setWords reseeds a generator in place as fromState would; int(n) is the rejection sampler
// over the 32-bit stream, whatever arithmetic it does it with.

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

test("setWords(words) continues as fromState({ words }) does, and refuses all zero", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 4, maxLength: 4 }), (words) => {
      fc.pre(words.some((w) => w !== 0));
      const a = Rng.fromState({ words, spareNormal: null });
      const b = new Rng(99);
      b.normal(); // a cached normal, which setWords drops as a fresh state has none
      b.setWords(words[0], words[1], words[2], words[3]);
      assert.equal(b.getState(), a.getState());
      for (let i = 0; i < 10; i++) assert.is(b.normal(), a.normal());
    }),
    { numRuns: 200 },
  );
  assert.throws(() => new Rng(1).setWords(0, 0, 0, 0), /Rng\.setWords: the four state words are all zero/);
});

test("int(n) is the first 32-bit draw below the largest multiple of n, modulo n (BigInt reference), n up to 2^32", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2 ** 32 }), fc.constant(3 * 2 ** 30 + 1)),
      (seed, n) => {
        const a = new Rng(seed);
        const ref = Rng.fromState(a.getState());
        const N = BigInt(n);
        const limit = 2n ** 32n - (2n ** 32n % N);
        for (let k = 0; k < 20; k++) {
          let r = BigInt(ref.nextU32());
          while (r >= limit) r = BigInt(ref.nextU32());
          assert.is(a.int(n), Number(r % N));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
