import { test } from "uvu";
import { execFileSync } from "node:child_process";
import * as assert from "uvu/assert";
import { Rng } from "../src/tensor/rng.ts";
import { fromArray, indexTensor, ones, rand, randn, zeros } from "../src/tensor/tensor.ts";
import { assertThrows } from "../src/testing/index.ts";

test("Rng gives the same stream for the same seed and differs across seeds", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xa = Array.from({ length: 5 }, () => a.nextU32());
  assert.equal(
    xa,
    Array.from({ length: 5 }, () => b.nextU32()),
  );
  assert.not.equal(
    xa,
    Array.from({ length: 5 }, () => c.nextU32()),
  );
});

test("Rng.uniform stays in [0, 1) with mean near 1/2; normal has mean 0 and variance 1", () => {
  const r = new Rng(7);
  const n = 20000;
  let s = 0;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    s += u;
    const z = r.normal();
    s1 += z;
    s2 += z * z;
  }
  // Standard errors: uniform mean 0.29/sqrt(n) ≈ 0.002; normal mean 0.007, variance 0.01.
  assert.ok(Math.abs(s / n - 0.5) < 0.01);
  assert.ok(Math.abs(s1 / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.05);
});

test("Rng.int covers [0, n) without bias", () => {
  const r = new Rng(3);
  const counts = new Array<number>(5).fill(0);
  for (let i = 0; i < 10000; i++) ((counts[r.int(5)] as number)++, 0);
  for (const c of counts) assert.ok(Math.abs(c - 2000) < 200, `count ${c}`);
});

test("creation: zeros, ones, fromArray with nested arrays, rand, randn", () => {
  assert.equal(Array.from(zeros([2, 2]).data), [0, 0, 0, 0]);
  assert.equal(Array.from(ones([3]).data), [1, 1, 1]);
  const t = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal(t.shape, [2, 3]);
  assert.equal(t.toArray(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const r1 = rand([4], { rng: new Rng(1) });
  const r2 = rand([4], { rng: new Rng(1) });
  assert.equal(Array.from(r1.data), Array.from(r2.data));
  assert.equal(randn([2, 3], { rng: new Rng(1) }).shape, [2, 3]);
});

test("toString is readable and elides long dimensions", () => {
  const s = fromArray([
    [1, 2],
    [3, 4],
  ]).toString();
  assert.match(s, /Tensor\(2, 2\)/);
  assert.match(s, /\[\[1, 2\],\n \[3, 4\]\]/);
  const long = zeros([100]).toString();
  assert.match(long, /0, 0, 0, \.\.\., 0, 0, 0/);
});

test("clone copies data; detach shares it and drops the graph", () => {
  const a = fromArray([1, 2], [2], { requiresGrad: true });
  const c = a.clone();
  c.data[0] = 9;
  assert.is(a.data[0], 1);
  assert.ok(c.requiresGrad);
  const d = a.detach();
  assert.is(d.data, a.data);
  assert.not.ok(d.requiresGrad);
});

test("bad input: wrong data length, negative dims, non-integer indices", () => {
  assertThrows(() => fromArray([1, 2, 3], [2, 2]), /fromArray: got 3 values for shape \(2, 2\)/);
  assertThrows(() => zeros([2, -1]), /empty: shape must hold non-negative integers/);
  assertThrows(() => indexTensor([1, 2.5]), /indexTensor: value 2.5 at position 1/);
  assertThrows(() => fromArray([1, 2]).item(), /item: needs a tensor with one element, got \(2,\)/);
});

test("backward() in a process that loaded no op: an error naming the autograd layer, not a crash", () => {
  // src/tensor sits below src/autograd: backward() runs what the tape hands in when it loads
  const script =
    'const { fromArray } = await import("./src/tensor/tensor.ts");' +
    "try { fromArray([1], [1], { requiresGrad: true }).backward(); console.log('no error'); }" +
    "catch (e) { console.log(e.message); }";
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: new URL("..", import.meta.url).pathname,
    encoding: "utf8",
  });
  assert.match(out, /^backward: the autograd layer \(src\/autograd\/tape\.ts\) is not loaded/);
});

test.run();
