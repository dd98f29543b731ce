// GradBucket: backward writes the parameters' gradients straight into the bucket's views
// (a weight's GEMM writes its view whole, a bias adds into a zero-filled one), with the
// values an ordinary backward computes; a view that got no gradient is zero-filled by seal(),
// whatever an earlier step left in it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { GradBucket } from "../../src/autograd/grad.ts";
import { linear } from "../../src/ops/matmul.ts";
import { sum } from "../../src/ops/reduce.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { rand, type Tensor } from "../../src/tensor/tensor.ts";
import { assertThrows } from "../../src/testing/index.ts";

function layer(seed: number): { w: Tensor; b: Tensor; x: Tensor } {
  const rng = new Rng(seed);
  return {
    w: rand([5, 3], { rng, lo: -1, hi: 1, requiresGrad: true }),
    b: rand([5], { rng, lo: -1, hi: 1, requiresGrad: true }),
    x: rand([4, 3], { rng, lo: -1, hi: 1 }),
  };
}

test("backward writes into the bucket's views the gradients a plain backward makes; seal() zero-fills the ones left out", () => {
  const plain = layer(1);
  sum(linear(plain.x, plain.w, plain.b, "relu")).backward();
  const { w, b, x } = layer(1);
  const flat = new Float32Array(w.size + b.size).fill(7); // stale values from an "earlier step"
  const bucket = new GradBucket([w, b], flat);
  sum(linear(x, w, b, "relu")).backward();
  bucket.seal();
  assert.is(w.grad?.buffer, flat.buffer, "the weight's gradient is a view of the bucket");
  assert.equal(Array.from(flat.subarray(0, w.size)), Array.from(plain.w.grad as Float32Array));
  assert.equal(Array.from(flat.subarray(w.size)), Array.from(plain.b.grad as Float32Array));
  // A step in which the bias gets no gradient (it is not used): its view reads zeros after seal().
  w.zeroGrad();
  b.zeroGrad();
  flat.fill(7);
  sum(linear(x, w, null)).backward();
  bucket.seal();
  assert.equal(Array.from(flat.subarray(w.size)), [0, 0, 0, 0, 0]);
  assert.is(b.grad?.buffer, flat.buffer);
});

test("GradBucket names a wrong size, and a gradient made elsewhere than its view", () => {
  const { w, b } = layer(2);
  assertThrows(() => new GradBucket([w, b], new Float32Array(3)), /the parameters have 20 elements, the array 3/);
  const bucket = new GradBucket([w, b], new Float32Array(20));
  w.grad = new Float32Array(15);
  assertThrows(() => bucket.seal(), /parameter 0's gradient is not its view in the bucket/);
});

test.run();
