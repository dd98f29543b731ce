// Adam against torch (test/fixtures/adam, made once by its make.py with Debian's torch 1.13):
// torch.optim.Adam on a small MLP, fed the gradients torch computed at each of 5 steps, and
// TorchRec's row-wise Adam (written out in torch) on an embedding table, fed each step's
// touched rows and their gradients. After 5 steps the weights and the whole state must
// match. Tolerance: torch rounds every tensor op to float32, dlrm-ts each stored value once
// (float64 in between); weights move by ~lr = 0.01 per step and the moments are sums of a few
// rounded terms, so the two differ by a few float32 ulps: atol 1e-6, rtol 1e-5.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { Adam } from "../../src/optim/adam.ts";
import { fromArray, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose } from "../../src/testing/index.ts";

const fixture = readSafetensors(join(import.meta.dirname, "../fixtures/adam/adam.safetensors")).tensors;
const TOL = { atol: 1e-6, rtol: 1e-5 };
const STEPS = 5;

function get(name: string): { data: Float32Array | Int32Array; shape: number[] } {
  const t = fixture.get(name);
  if (t === undefined) throw new Error(`adam.safetensors has no tensor "${name}"`);
  return { data: t.data as Float32Array | Int32Array, shape: [...t.shape] };
}

function param(name: string): Tensor {
  const { data, shape } = get(name);
  return fromArray(Float32Array.from(data), shape, { requiresGrad: true });
}

test("dense: torch.optim.Adam (lr 0.01, betas 0.9/0.999, eps 1e-8) on an MLP, 5 steps: weights, exp_avg, exp_avg_sq", () => {
  const names = ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"];
  const params = names.map(param);
  const opt = new Adam(params, { lr: 0.01 });
  for (let k = 0; k < STEPS; k++) {
    params.forEach((p, i) => {
      p.grad = Float32Array.from(get(`step${k}.${names[i]}.grad`).data);
    });
    opt.step();
    opt.zeroGrad();
  }
  assert.is(opt.stepCount, STEPS);
  names.forEach((name, i) => {
    assertClose(params[i]?.data as Float32Array, get(`final.${name}`).data, TOL, name);
    assertClose(opt.stateArray(i, "exp_avg"), get(`final.${name}.exp_avg`).data, TOL, `${name} exp_avg`);
    assertClose(opt.stateArray(i, "exp_avg_sq"), get(`final.${name}.exp_avg_sq`).data, TOL, `${name} exp_avg_sq`);
  });
  // the run moved the weights (by about lr per step): a fixture that did not would prove nothing
  const moved = Math.max(
    ...names.flatMap((n) => Array.from(get(`final.${n}`).data, (w, j) => Math.abs(w - (get(n).data[j] as number)))),
  );
  assert.ok(moved > 0.02, `the weights moved by up to ${moved}`);
});

test("table: row-wise Adam (momentum1 (R, E), momentum2 (R,)) on the touched rows, 5 steps; untouched rows stay as they were", () => {
  const table = param("table");
  const [R, E] = table.shape as [number, number];
  const opt = new Adam([table], { lr: 0.01 });
  for (let k = 0; k < STEPS; k++) {
    const ids = Int32Array.from(get(`step${k}.table.ids`).data);
    table.rowGrad = { ids, values: Float32Array.from(get(`step${k}.table.grad`).data), rows: R, cols: E };
    opt.step();
    opt.zeroGrad();
  }
  assertClose(table.data as Float32Array, get("final.table").data, TOL, "table");
  assertClose(opt.stateArray(0, "momentum1"), get("final.table.momentum1").data, TOL, "momentum1");
  assertClose(opt.stateArray(0, "momentum2"), get("final.table.momentum2").data, TOL, "momentum2");
  // rows 8 and 9 were never looked up: bit for bit their initial values, zero state
  const initial = get("table").data;
  for (let j = 8 * E; j < R * E; j++) assert.is(table.data[j], initial[j], `untouched element ${j}`);
  assert.equal(Array.from(opt.stateArray(0, "momentum2").subarray(8)), [0, 0]);
});

test.run();
