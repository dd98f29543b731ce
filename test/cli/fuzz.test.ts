// Byte-level fuzzing of the two files users hand us: a checkpoint (with its recorded config
// and optimizer state) and a batch file, each mutated once (a flipped bit, a byte set, a
// byte inserted or deleted, the file cut or lengthened) and given to `dlrm predict`.
// Every outcome must be a clean run (exit 0) or a one-line error that names the mutated
// file, never a stack trace or a crash; and every mutation that changes the file's size must
// be rejected, since the tensors must cover the data section exactly. A flipped bit inside
// weight bytes cannot be caught (safetensors has no checksum) and may run cleanly.
// fast-check with a fixed seed: 400 cases per file, a few seconds.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const SEED = 1313;
const RUNS = 400;

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "insert"; at: number; value: number }
  | { kind: "delete"; at: number }
  | { kind: "truncate"; at: number }
  | { kind: "append"; bytes: Uint8Array };

function headerEnd(bytes: Uint8Array): number {
  return 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
}

/** Mutations of a file of `size` bytes whose header ends at `head`: half of the positions in the header. */
function mutationArb(size: number, head: number): fc.Arbitrary<Mutation> {
  const at = fc.oneof(fc.integer({ min: 0, max: head - 1 }), fc.integer({ min: 0, max: size - 1 }));
  const byte = fc.integer({ min: 0, max: 255 });
  return fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("set" as const), at, value: byte }),
    fc.record({ kind: fc.constant("insert" as const), at, value: byte }),
    fc.record({ kind: fc.constant("delete" as const), at }),
    fc.record({ kind: fc.constant("truncate" as const), at }),
    fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );
}

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (m.kind) {
    case "flip":
      out[m.at] = (out[m.at] as number) ^ (1 << m.bit);
      return out;
    case "set":
      out[m.at] = m.value;
      return out;
    case "insert":
      return Uint8Array.from([...bytes.subarray(0, m.at), m.value, ...bytes.subarray(m.at)]);
    case "delete":
      return Uint8Array.from([...bytes.subarray(0, m.at), ...bytes.subarray(m.at + 1)]);
    case "truncate":
      return bytes.slice(0, m.at);
    case "append":
      return Uint8Array.from([...bytes, ...m.bytes]);
  }
}

async function fuzz(what: "checkpoint" | "data"): Promise<void> {
  const t = tempDir();
  try {
    const model = join(t.dir, "model.json");
    const config = {
      dense_features: 3,
      bottom_mlp: [3, 8, 4],
      embedding_dim: 4,
      table_sizes: [5, 7],
      top_mlp: [7, 4, 1],
      optimizer: "adagrad",
    };
    writeFileSync(model, JSON.stringify(config));
    const ckpt = join(t.dir, "ckpt.safetensors");
    const trained = await runCli([
      "train",
      "--model",
      model,
      "--data",
      "random",
      "--data-size",
      "16",
      "--steps",
      "2",
      "--batch-size",
      "8",
      "--workers",
      "1",
      "--save",
      ckpt,
    ]);
    assert.is(trained.code, 0, trained.stderr);
    const data = join(t.dir, "data.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 12,
        denseFeatures: 3,
        tableSizes: config.table_sizes,
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: false,
        seed: 4,
      }),
    );
    const original = readFileSync(what === "checkpoint" ? ckpt : data);
    const mutated = join(t.dir, `mutated.safetensors`);
    const out = join(t.dir, "pred.safetensors");
    const outcomes = { clean: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(mutationArb(original.length, headerEnd(original)), async (m) => {
        const bytes = mutate(original, m);
        writeFileSync(mutated, bytes);
        const args =
          what === "checkpoint" ? ["--checkpoint", mutated, "--data", data] : ["--checkpoint", ckpt, "--data", mutated];
        const r = await runCli(["predict", ...args, "--out", out, "--workers", "1"]);
        const where = `${m.kind} ${JSON.stringify({ ...m, bytes: undefined })}: exit ${r.code}: ${r.stderr}`;
        if (r.code === 0) {
          outcomes.clean++;
          assert.is(bytes.length, original.length, `a size-changing mutation ran cleanly: ${where}`);
          return;
        }
        outcomes.rejected++;
        assert.is(r.code, 1, where);
        assert.match(r.stderr, /^dlrm: [^\n]*\n$/, `one line: ${where}`);
        assert.ok(r.stderr.includes("mutated.safetensors"), `the message names the mutated file: ${where}`);
        assert.not.match(
          r.stderr,
          /Cannot read|is not a function|undefined|Invalid typed array|Maximum call stack/,
          `no internal error: ${where}`,
        );
      }),
      { seed: SEED, numRuns: RUNS },
    );
    console.log(`fuzz ${what}: ${outcomes.clean} clean runs, ${outcomes.rejected} rejections (seed ${SEED})`);
  } finally {
    t.cleanup();
  }
}

test("a mutated checkpoint: a clean run or a one-line error naming it; a size change is always rejected", () =>
  fuzz("checkpoint"));
test("a mutated batch file: a clean run or a one-line error naming it; a size change is always rejected", () =>
  fuzz("data"));

test.run();
