// Child of host_flags.test.ts: prints whether this engine compiles the relaxed-SIMD module
// before and after the library runs a Linear forward and backward ("library"), or after the
// opt-in enableRelaxedSimd() before it ("opt-in") or after it ("late-opt-in"), and which sgemm
// build the kernels ran with and run with at the end.

import { wasmModules } from "../../src/kernels/wasm.gen.ts";
import { enableRelaxedSimd, wasmState } from "../../src/kernels/wasm.ts";
import { linear, randn, sum, zeros } from "../../src/index.ts";
import { toResident } from "../../src/tensor/storage.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const compiles = (): boolean => {
  try {
    new WebAssembly.Module(Uint8Array.from(Buffer.from(wasmModules.sgemm_relaxed, "base64")));
    return true;
  } catch {
    return false;
  }
};

const before = compiles();
if (process.argv[2] === "opt-in") enableRelaxedSimd();
{
  // resident operands, as a model's parameters are
  const resident = (t: Tensor): Tensor => new Tensor(toResident(t.data), t.shape, t.requiresGrad);
  const x = resident(randn([8, 16]));
  const w = resident(randn([4, 16], { requiresGrad: true }));
  const b = resident(zeros([4], { requiresGrad: true }));
  sum(linear(x, w, b)).backward();
}
const built = wasmState().sgemmBuild; // the build the step ran with
if (process.argv[2] === "late-opt-in") enableRelaxedSimd(); // after the kernels ran
process.stdout.write(JSON.stringify({ before, after: compiles(), build: built, buildNow: wasmState().sgemmBuild }));
