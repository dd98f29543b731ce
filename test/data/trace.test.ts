// Synthetic trace generator: stack distances against a naive LRU list, the profile of a
// hand-worked trace, the replay against a naive deque (the reference's own loop), the
// restricted draw, the profile file format, and the main property — a generated trace
// reproduces the profile's stack-distance distribution within a Kolmogorov–Smirnov bound.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  drawStackDistance,
  generateTrace,
  profileTrace,
  pythonFloat,
  readProfile,
  replayStackDistances,
  traceStackDistances,
  profileFileText,
  type TraceProfile,
} from "../../src/data/trace.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

/** Stack distances with a plain array as the LRU stack (most recent last), as trace_profile does. */
function naiveStackDistances(trace: ArrayLike<number>): number[] {
  const stack: number[] = [];
  const out: number[] = [];
  for (let t = 0; t < trace.length; t++) {
    const x = trace[t] as number;
    const i = stack.lastIndexOf(x);
    if (i === -1) out.push(0);
    else {
      out.push(stack.length - i);
      stack.splice(i, 1);
    }
    stack.push(x);
  }
  return out;
}

/** trace_generate_lru's loop on a plain array: new → take the front; sd → take index len - sd; move to the end. */
function naiveReplay(unique: readonly number[], sds: readonly number[]): number[] {
  const lines = [...unique];
  const out: number[] = [];
  for (const sd of sds) {
    const k = sd === 0 ? 0 : lines.length - sd;
    const [x] = lines.splice(k, 1) as [number];
    lines.push(x);
    out.push(x);
  }
  return out;
}

test("the reference's example trace, profiled by hand", () => {
  // LRU stack, most recent last: 1 2 3 4 5 are new → [1 2 3 4 5]; 3 at depth 3 → [1 2 4 5 3];
  // 4 at depth 3 → [1 2 5 3 4]; 1 at depth 5 → [2 5 3 4 1]; 1 at depth 1; 6 new → [2 5 3 4 1 6];
  // 3 at depth 4.
  const trace = [1, 2, 3, 4, 5, 3, 4, 1, 1, 6, 3];
  assert.equal(Array.from(traceStackDistances(trace)), [0, 0, 0, 0, 0, 3, 3, 5, 1, 0, 4]);
  const p = profileTrace(trace);
  assert.equal(p.uniqueAccesses, [1, 2, 3, 4, 5, 6]);
  assert.equal(p.stackDistances, [0, 1, 3, 4, 5]);
  // counts 6, 1, 2, 1, 1 of 11 → exact fractions
  assert.equal(p.cdf, [6 / 11, 7 / 11, 9 / 11, 10 / 11, 1]);
});

test("traceStackDistances agrees with a naive LRU list on random traces", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 200 }), (trace) => {
      assert.equal(Array.from(traceStackDistances(trace)), naiveStackDistances(trace));
    }),
    { seed: 21, numRuns: 100 },
  );
});

test("replayStackDistances agrees with the reference's deque loop, and its output has those stack distances", () => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 30 })
        .chain((U) => fc.tuple(fc.constant(U), fc.array(fc.integer({ min: 0, max: U }), { maxLength: 150 }))),
      ([U, raw]) => {
        const unique = Array.from({ length: U }, (_, k) => 100 + 7 * k); // distinct, not 0..U-1
        // Keep distances possible for an LRU stack: sd ≤ number of values issued so far, and
        // new accesses only while unused values remain (as the generator guarantees).
        const sds: number[] = [];
        let issued = 0;
        for (const s of raw) {
          const sd = s === 0 && issued === U ? 1 : Math.min(s, issued);
          if (sd === 0) issued++;
          sds.push(sd);
        }
        const got = Array.from(replayStackDistances(unique, sds));
        assert.equal(got, naiveReplay(unique, sds));
        assert.equal(naiveStackDistances(got), sds);
      },
    ),
    { seed: 22, numRuns: 100 },
  );
});

test("drawStackDistance: inverse CDF, restricted to distances ≤ the new values issued so far", () => {
  const p = profileTrace([1, 2, 3, 4, 5, 3, 4, 1, 1, 6, 3]); // sds 0 1 3 4 5, cdf 6/11 7/11 9/11 10/11 1
  // Unrestricted (issued ≥ 5): u ≤ 6/11 → 0, ≤ 7/11 → 1, ≤ 9/11 → 3, ≤ 10/11 → 4, else 5.
  assert.equal(
    [0, 0.5, 0.6, 0.7, 0.85, 0.95, 0.9999].map((u) => drawStackDistance(p, 5, u)),
    [0, 0, 1, 3, 4, 5, 5],
  );
  // issued = 2: only 0 and 1 are possible, u is scaled by cdf(1) = 7/11.
  // 0.5·7/11 = 0.318 → 0; 0.9·7/11 = 0.573 > 6/11 = 0.545 → 1.
  assert.equal(
    [0.5, 0.9, 0.99].map((u) => drawStackDistance(p, 2, u)),
    [0, 1, 1],
  );
  // issued = 0: only new accesses.
  assert.equal(
    [0, 0.5, 0.999].map((u) => drawStackDistance(p, 0, u)),
    [0, 0, 0],
  );
  // issued = 4: distances 0, 1, 3, 4 (scaled by 10/11): 0.99·10/11 = 0.9 → 4, never 5.
  assert.is(drawStackDistance(p, 4, 0.99), 4);
});

/** A stationary source trace with locality: each access is new with probability q, else a
 *  reuse at a stack depth drawn ~ 1 + floor(|N(0, 12)|), capped by what has been seen. */
function sourceTrace(n: number, q: number, seed: number): number[] {
  const rng = new Rng(seed);
  const stack: number[] = [];
  const out: number[] = [];
  let next = 0;
  for (let t = 0; t < n; t++) {
    let x: number;
    if (stack.length === 0 || rng.uniform() < q) x = next++;
    else {
      const depth = Math.min(stack.length, 1 + Math.floor(Math.abs(rng.normal() * 12)));
      x = stack[stack.length - depth] as number;
      stack.splice(stack.length - depth, 1);
    }
    stack.push(x);
    out.push(x);
  }
  return out;
}

/** sup over x of |F_sample(x) - F_profile(x)|; both step functions jump only at integers. */
function ksDistance(sample: number[], p: TraceProfile): number {
  const counts = new Map<number, number>();
  for (const s of sample) counts.set(s, (counts.get(s) ?? 0) + 1);
  const xs = [...new Set([...counts.keys(), ...p.stackDistances])].sort((a, b) => a - b);
  let cum = 0;
  let D = 0;
  for (const x of xs) {
    cum += counts.get(x) ?? 0;
    let k = -1; // profile CDF at x: the last stack distance ≤ x
    while (k + 1 < p.stackDistances.length && (p.stackDistances[k + 1] as number) <= x) k++;
    const F = k === -1 ? 0 : (p.cdf[k] as number);
    D = Math.max(D, Math.abs(cum / sample.length - F));
  }
  return D;
}

test("a generated trace reproduces the profile's stack-distance distribution (Kolmogorov–Smirnov)", () => {
  const source = sourceTrace(40000, 0.25, 31);
  const p = profileTrace(source);
  const maxSd = p.stackDistances[p.stackDistances.length - 1] as number;
  const n = 20000; // half the source: about U/2 new draws, so unused values never run out
  const gen = Array.from(generateTrace(p, n, new Rng(32)));
  const values = new Set(p.uniqueAccesses);
  assert.ok(gen.every((x) => values.has(x)));

  // Stack distances of the generated trace, measured independently.
  const sds = naiveStackDistances(gen);
  // Warm-up: until maxSd distinct values have appeared, the generator restricts draws to the
  // possible distances (as the reference does). After it, each draw is iid from the profile.
  let distinct = 0;
  let warm = 0;
  while (warm < n && distinct < maxSd) if (sds[warm++] === 0) distinct++;
  const after = sds.slice(warm);
  // One-sample KS at α = 0.001: P(D > 1.95/√m) ≈ 0.001 for iid draws (conservative for a discrete CDF).
  const bound = 1.95 / Math.sqrt(after.length);
  const D = ksDistance(after, p);
  assert.ok(warm < n / 10, `warm-up ${warm} of ${n}`);
  assert.ok(
    D < bound,
    `KS distance ${D.toFixed(4)} ≥ bound ${bound.toFixed(4)} (${after.length} draws after a warm-up of ${warm})`,
  );

  // The same statistic tells apart a trace without that locality: uniform random ids.
  const rng = new Rng(33);
  const uniform = Array.from({ length: n }, () => rng.int(2000));
  const Du = ksDistance(naiveStackDistances(uniform), p);
  assert.ok(Du > 5 * bound, `uniform ids give KS ${Du.toFixed(4)}, expected far above ${bound.toFixed(4)}`);
});

test("generateTrace is reproducible from the seed and draws only profiled values", () => {
  const p = profileTrace(sourceTrace(2000, 0.3, 41));
  const a = generateTrace(p, 3000, new Rng(7));
  const b = generateTrace(p, 3000, new Rng(7));
  const c = generateTrace(p, 3000, new Rng(8));
  assert.equal(Array.from(a), Array.from(b));
  assert.not.equal(Array.from(a), Array.from(c));
  const values = new Set(p.uniqueAccesses);
  assert.ok(a.every((x) => values.has(x)));
  // New values are issued in the order of first appearance of the source.
  const firsts = [...new Set(Array.from(a))];
  assert.equal(firsts, p.uniqueAccesses.slice(0, firsts.length));
  assert.is(generateTrace(p, 0, new Rng(1)).length, 0);
  assertThrows(() => generateTrace(p, -1, new Rng(1)), /generateTrace: length must be a non-negative integer/);
});

const tmp = mkdtempSync(join(tmpdir(), "dlrm-trace-test-"));

test("profileFileText is the reference's three lines; readProfile reads them back", () => {
  const path = join(tmp, "dist.log");
  const p = profileTrace([1, 2, 3, 4, 5, 3, 4, 1, 1, 6, 3]);
  writeFileSync(path, profileFileText(p));
  // Python's str(list) of the same values: floats in repr form, 1.0 for one.
  assert.is(
    readFileSync(path, "utf8"),
    "1, 2, 3, 4, 5, 6\n0, 1, 3, 4, 5\n0.5454545454545454, 0.6363636363636364, 0.8181818181818182, 0.9090909090909091, 1.0\n",
  );
  assert.equal(readProfile(path, nodeDataFiles), p);
  // A hand-written file in the same format, with rounded CDF values.
  const hand = join(tmp, "hand.log");
  writeFileSync(hand, "1, 2, 3, 4, 5, 6\n0, 1, 3, 4, 5\n0.55, 0.64, 0.82, 0.91, 1.0\n");
  assert.equal(readProfile(hand, nodeDataFiles), {
    uniqueAccesses: [1, 2, 3, 4, 5, 6],
    stackDistances: [0, 1, 3, 4, 5],
    cdf: [0.55, 0.64, 0.82, 0.91, 1],
  });
});

test("pythonFloat writes floats as Python's repr does", () => {
  const cases: [number, string][] = [
    [1, "1.0"],
    [0.5, "0.5"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1e-4, "0.0001"],
    [1.5e-5, "1.5e-05"],
    [1e-7, "1e-07"],
    [1e16, "1e+16"],
    [123456.5, "123456.5"],
    [0, "0.0"],
  ];
  for (const [x, s] of cases) assert.is(pythonFloat(x), s, String(x));
});

test("malformed profile files are errors naming file:line", () => {
  const bad = (name: string, text: string, pattern: RegExp): void => {
    const path = join(tmp, name);
    writeFileSync(path, text);
    assertThrows(() => readProfile(path, nodeDataFiles), pattern);
  };
  bad("two.log", "1, 2\n0, 1\n", /two\.log: expected 3 lines .*found 2/);
  bad("float-id.log", "1, 2.5\n0, 1\n0.5, 1.0\n", /float-id\.log:1: value 2 is not an integer: "2\.5"/);
  bad("word.log", "1, 2\n0, x\n0.5, 1.0\n", /word\.log:2: value 2 is not an integer: "x"/);
  bad("nan.log", "1, 2\n0, 1\n0.5, abc\n", /nan\.log:3: value 2 is not a number: "abc"/);
  bad("len.log", "1, 2\n0, 1\n1.0\n", /len\.log: 2 stack distances but 1 CDF values/);
  bad("deep.log", "1, 2\n0, 3\n0.5, 1.0\n", /deep\.log: stack distance 3 exceeds the 2 unique accesses/);
  bad("end.log", "1, 2\n0, 1\n0.5, 0.9\n", /end\.log: the CDF must end at 1, got 0\.9/);
  bad("down.log", "1, 2, 3\n0, 1, 2\n0.5, 0.4, 1.0\n", /down\.log: CDF values must be non-decreasing/);
  bad("dup.log", "1, 1\n0, 1\n0.5, 1.0\n", /dup\.log: unique access 1 appears twice/);
  bad("nonew.log", "1, 2\n1, 2\n0.5, 1.0\n", /nonew\.log: the first stack distance must be 0/);
  assertThrows(() => readProfile(join(tmp, "missing.log"), nodeDataFiles), /trace profile: cannot read .*missing\.log/);
  assertThrows(() => profileTrace([]), /profileTrace: the trace is empty/);
  assertThrows(() => profileTrace([1, -2]), /access 1 is -2, expected a non-negative integer/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
