// Philox-4x32-10 against the published known-answer vectors of the algorithm (Random123's
// tests/kat_vectors, "philox4x32 10" lines), and the stream fills: any sub-range of a stream
// equals the same range of the whole stream (what lets ranks initialise their own rows).

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { fillNormal, fillUniform, philox4x32, streamKey } from "../../src/tensor/philox.ts";

const KAT: [string, string, string][] = [
  ["00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
  ["ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"],
  ["243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"],
];
const words = (s: string): number[] => s.split(" ").map((h) => parseInt(h, 16));
const hex = (a: Uint32Array): string => [...a].map((w) => w.toString(16).padStart(8, "0")).join(" ");

for (const [ctr, key, expected] of KAT) {
  test(`philox4x32-10 known answer: counter ${ctr}, key ${key}`, () => {
    const [c0, c1, c2, c3] = words(ctr) as [number, number, number, number];
    const [k0, k1] = words(key) as [number, number];
    assert.is(hex(philox4x32(c0, c1, c2, c3, k0, k1, new Uint32Array(4))), expected);
  });
}

test("a sub-range of a uniform or normal stream equals that range of the whole stream", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      (a, len, base) => {
        const key = streamKey(7, "emb_l.3.weight");
        const whole = new Float32Array(a + len);
        fillUniform(whole, key, base, -0.5, 0.5);
        const part = new Float32Array(len);
        fillUniform(part, key, base + a, -0.5, 0.5);
        assert.equal([...part], [...whole.subarray(a)]);
        const wholeN = new Float64Array(a + len);
        fillNormal(wholeN, key, base, 0, 2);
        const partN = new Float64Array(len);
        fillNormal(partN, key, base + a, 0, 2);
        assert.equal([...partN], [...wholeN.subarray(a)]);
      },
    ),
    { seed: 11, numRuns: 200 },
  );
});

test("uniform values lie in [lo, hi) and have the moments of U(lo, hi); normal ones of N(mean, std)", () => {
  const n = 200_000;
  const u = new Float64Array(n);
  fillUniform(u, streamKey(1, "u"), 0, -2, 2);
  let s = 0;
  let s2 = 0;
  for (const v of u) {
    assert.ok(v >= -2 && v < 2, `uniform value ${v} outside [-2, 2)`);
    s += v;
    s2 += v * v;
  }
  // Mean 0 and variance 16/12 of U(-2, 2); 5 standard errors of the estimates.
  assert.ok(Math.abs(s / n) < 5 * Math.sqrt(16 / 12 / n), `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 16 / 12) < 5 * Math.sqrt(4 ** 4 / 80 / n) * 2, `variance ${s2 / n}`);
  const z = new Float64Array(n);
  fillNormal(z, streamKey(1, "z"), 0, 1, 3);
  let m = 0;
  let m2 = 0;
  for (const v of z) {
    m += v;
    m2 += (v - 1) ** 2;
  }
  assert.ok(Math.abs(m / n - 1) < (5 * 3) / Math.sqrt(n), `normal mean ${m / n}`);
  assert.ok(Math.abs(m2 / n - 9) < 5 * 9 * Math.sqrt(2 / n), `normal variance ${m2 / n}`);
});

test("different seeds and names give different streams", () => {
  const a = new Float32Array(8);
  const b = new Float32Array(8);
  fillUniform(a, streamKey(1, "emb_l.0.weight"), 0, 0, 1);
  fillUniform(b, streamKey(1, "emb_l.1.weight"), 0, 0, 1);
  assert.not.equal([...a], [...b]);
  fillUniform(b, streamKey(2, "emb_l.0.weight"), 0, 0, 1);
  assert.not.equal([...a], [...b]);
});

test("fillUniform's element i is the top 24 bits of word i mod 4 of philox4x32 at block floor(i / 4), scaled to [lo, hi)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      (first, k0, k1) => {
        const got = new Float64Array(9);
        fillUniform(got, [k0, k1], first, -2, 3);
        const block = new Uint32Array(4);
        for (let j = 0; j < got.length; j++) {
          const i = first + j;
          const b = Math.floor(i / 4);
          philox4x32(b % 2 ** 32, Math.floor(b / 2 ** 32), 0, 0, k0, k1, block);
          assert.is(got[j], -2 + (5 * ((block[i % 4] as number) >>> 8)) / 16777216);
        }
      },
    ),
    { numRuns: 100 },
  );
});

test.run();
