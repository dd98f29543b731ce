// The wasm memory and its allocator (src/kernels/memory.ts), resident tensor storage
// (src/tensor/storage.ts) and the DLRM_KERNELS switch (src/kernels/index.ts): live blocks
// never overlap, freed blocks are reused, zeroed blocks are zero, views survive growth, the
// 4 GiB limit is a clear error, and resident arrays return to the heap only when neither
// they nor a subarray of them can be reached. Debug mode (DLRM_DEBUG_MEMORY): freed blocks
// read NaN, a kernel's use of one is an error, and a write after free is caught at reuse.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { kernels, kernelSet, kernelSetFromEnv } from "../../src/kernels/index.ts";
import * as ref from "../../src/kernels/ref.ts";
import { wasmKernels } from "../../src/kernels/wasm.ts";
import {
  debugMemoryFromEnv,
  MAX_BYTES,
  PAGE_BYTES,
  RESERVED_BYTES,
  residentF32,
  Scratch,
  sizeClass,
  WasmHeap,
  WasmMemoryError,
  type Ptr,
} from "../../src/kernels/memory.ts";
import { execFileSync } from "node:child_process";
import { allocFloat, allocFloatLike, allocResident, isResident } from "../../src/tensor/storage.ts";

test("sizeClass: covers the request, 64-byte multiples, at most 12.5 % waste above 4 KiB", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 }), (n) => {
      const c = sizeClass(n);
      assert.ok(c >= n && c % 64 === 0, `${n} → ${c}`);
      if (n > 4096) assert.ok(c - n <= n / 8 + PAGE_BYTES, `${n} → ${c}`);
    }),
    { seed: 4401, numRuns: 300 },
  );
});

type Cmd = { kind: "alloc"; bytes: number; zeroed: boolean } | { kind: "free"; pick: number };

test("WasmHeap: live blocks never overlap, keep their contents, and freed blocks are reused", () => {
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    fc.record({
      kind: fc.constant("alloc" as const),
      bytes: fc.integer({ min: 0, max: 200_000 }),
      zeroed: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(cmd, { maxLength: 60 }), (cmds) => {
      const heap = new WasmHeap({ maximumPages: 64, initialBytes: PAGE_BYTES, debug: false }); // 4 MiB: runs out now and then
      const live: { ptr: Ptr; bytes: number; tag: number }[] = [];
      let tag = 1;
      for (const c of cmds) {
        if (c.kind === "free") {
          if (live.length === 0) continue;
          const [blk] = live.splice(c.pick % live.length, 1);
          if (blk === undefined) continue;
          heap.free(blk.ptr);
          // the next request of the same size class gets this very block back
          if (c.pick % 2 === 0) {
            const again = heap.alloc(blk.bytes);
            assert.is(again, blk.ptr);
            live.push({ ptr: again, bytes: blk.bytes, tag: tag++ });
            heap
              .i32(again, (heap.blockBytes(again) as number) / 4)
              .fill((live[live.length - 1] as { tag: number }).tag);
          }
          continue;
        }
        let ptr: Ptr;
        try {
          ptr = c.zeroed ? heap.allocZeroed(c.bytes) : heap.alloc(c.bytes);
        } catch (e) {
          assert.ok(
            e instanceof WasmMemoryError && /cannot allocate .* this memory holds at most 4 MiB/.test(e.message),
            String(e),
          );
          continue;
        }
        const size = heap.blockBytes(ptr) as number;
        assert.ok(size >= c.bytes && ptr % 64 === 0 && ptr >= RESERVED_BYTES && ptr + size <= heap.stats().memoryBytes);
        const view = heap.i32(ptr, size / 4);
        if (c.zeroed)
          assert.ok(
            view.every((v) => v === 0),
            "allocZeroed gave a dirty block",
          );
        view.fill(tag); // each live block holds its own tag in every word
        live.push({ ptr, bytes: c.bytes, tag: tag++ });
      }
      // no block was overwritten by another: every word still holds its tag
      for (const blk of live) {
        const size = heap.blockBytes(blk.ptr) as number;
        assert.ok(
          heap.i32(blk.ptr, size / 4).every((v) => v === blk.tag),
          `block at ${blk.ptr} was overwritten`,
        );
      }
      assert.is(heap.stats().liveBlocks, live.length);
    }),
    { seed: 4402, numRuns: 60 },
  );
});

test("WasmHeap: a reused block is zero when asked for zeros; a double free is an error", () => {
  const heap = new WasmHeap({ maximumPages: 16, initialBytes: PAGE_BYTES, debug: false });
  const p = heap.alloc(1000);
  heap.f32(p, 250).fill(NaN);
  heap.free(p);
  const q = heap.allocZeroed(1000);
  assert.is(q, p);
  assert.ok(heap.f32(q, 250).every((v) => v === 0));
  heap.free(q);
  assert.throws(
    () => heap.free(q),
    (e: unknown) => e instanceof WasmMemoryError && /free\(\d+\): not a live block \(double free\?\)/.test(e.message),
  );
});

test("WasmHeap: views made before a growth stay valid and are still recognised as resident", () => {
  const heap = new WasmHeap({ maximumPages: 4096, initialBytes: PAGE_BYTES });
  const p = heap.alloc(256);
  const old = heap.f32(p, 64);
  old.fill(3);
  const before = heap.buffer();
  heap.alloc(8 * 1024 * 1024); // forces the memory to grow
  assert.ok(heap.buffer() !== before && heap.buffer().byteLength > before.byteLength);
  assert.is(old.length, 64);
  assert.ok(heap.owns(old.buffer));
  assert.is(heap.addressOf(old, 2), p + 8);
  assert.ok(heap.f32(p, 64).every((v) => v === 3)); // same bytes through a view on the new buffer
  assert.is(heap.addressOf(new Float32Array(4), 0), null); // a plain array is not resident
});

test("WasmHeap: more than the memory can hold is an error naming the size and the limit", () => {
  const small = new WasmHeap({ maximumPages: 16, initialBytes: PAGE_BYTES }); // 1 MiB
  small.alloc(1000);
  assert.throws(
    () => small.alloc(4 * 1024 * 1024),
    (e: unknown) =>
      e instanceof WasmMemoryError &&
      /wasm memory: cannot allocate 4 MiB \(4194304 bytes\): this memory holds at most 1 MiB and 1 KiB are in use/.test(
        e.message,
      ),
  );
  const full = new WasmHeap({ initialBytes: PAGE_BYTES }); // the real 4 GiB limit, nothing grown
  assert.throws(
    () => full.alloc(5 * 2 ** 30),
    (e: unknown) =>
      e instanceof WasmMemoryError &&
      /cannot allocate 5 GiB \(5368709120 bytes\): a wasm32 memory holds at most 4 GiB .* tables past one memory get memories of their own .* row ranges over several workers \(--workers N\)/.test(
        e.message,
      ),
  );
  assert.is(full.maximumBytes, MAX_BYTES);
  assert.throws(() => full.alloc(-1), /cannot allocate -1 bytes/);
});

test("Scratch: declines staging beyond its limit; pieces stay within what begin() made room for", () => {
  const heap = new WasmHeap({ maximumPages: 64, initialBytes: PAGE_BYTES });
  const s = new Scratch(heap, 1 << 20);
  assert.is(s.begin(2 << 20), false);
  assert.is(s.begin(1000), true);
  const a = s.take(100);
  const b = s.take(100);
  assert.is(b - a, 128); // 64-byte aligned pieces
  assert.throws(() => s.take(1 << 20), /scratch: took/);
});

// Collect garbage on demand: lets the test see blocks return to the heap.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((done) => setTimeout(done, 5));
  }
};

test("resident arrays: a block returns to the heap only when the array and its subarrays are unreachable", async () => {
  const heap = new WasmHeap({ maximumPages: 64, initialBytes: PAGE_BYTES });
  const liveAfter = async (): Promise<number> => {
    await settle();
    return heap.stats().liveBlocks;
  };
  const base = heap.stats().liveBlocks;
  (() => {
    residentF32(heap, 1000).fill(1); // dropped at once
  })();
  assert.is(await liveAfter(), base);

  let sub: Float32Array | null = (() => {
    const a = residentF32(heap, 1000);
    a.fill(2);
    return a.subarray(100, 200).subarray(10, 20); // a view of a view; the parent is dropped
  })();
  assert.is(await liveAfter(), base + 1, "the parent's block must stay while a subarray lives");
  (() => {
    residentF32(heap, 1000).fill(5); // would take the block if it had been freed
  })();
  assert.ok(
    sub.every((v) => v === 2),
    "the subarray's data was overwritten",
  );
  sub = null;
  assert.is(await liveAfter(), base);
});

test("storage: allocResident is resident (wasm kernels) and zero-filled, allocFloat transient outside a step", () => {
  const plain = allocFloat("float32", 10);
  assert.ok(plain instanceof Float32Array && !isResident(plain) && plain.every((v) => v === 0));
  const res = allocResident(10);
  assert.is(isResident(res), kernelSet === "wasm");
  assert.ok(res instanceof Float32Array && res.every((v) => v === 0));
  assert.ok(allocFloat("float64", 3) instanceof Float64Array);
  const like = allocFloatLike(res, 5);
  assert.is(isResident(like), kernelSet === "wasm");
  assert.is(like.length, 5);
  assert.ok(!isResident(allocFloatLike(plain)));
  assert.ok(allocFloatLike(new Float64Array(2)) instanceof Float64Array);
});

test("DLRM_KERNELS: wasm by default, js on request, anything else an error naming the variable", () => {
  assert.is(kernels.sgemm, kernelSet === "wasm" ? wasmKernels.sgemm : ref.sgemm);
  assert.is(kernelSet, kernelSetFromEnv(process.env.DLRM_KERNELS));
  assert.is(kernelSetFromEnv(undefined), "wasm");
  assert.is(kernelSetFromEnv(""), "wasm");
  assert.is(kernelSetFromEnv("wasm"), "wasm");
  assert.is(kernelSetFromEnv("js"), "js");
  assert.throws(() => kernelSetFromEnv("gpu"), /DLRM_KERNELS must be "wasm" or "js", got "gpu"/);
});

test("debug mode: a freed block reads NaN, addressOf on it (every kernel call asks) throws, a write after free is caught at reuse", () => {
  for (const debug of [false, true]) {
    // One page: 15 blocks of 4 KiB after the reserved head, so the 16th request must reuse.
    const heap = new WasmHeap({ maximumPages: 1, initialBytes: PAGE_BYTES, debug });
    const blocks = Array.from({ length: 15 }, () => heap.alloc(4096));
    const p = blocks[3] as Ptr;
    const stale = heap.f32(p, 1024); // a view that does not keep its block alive
    stale.fill(1);
    heap.free(p);
    if (!debug) {
      assert.ok(
        stale.every((v) => v === 1),
        "without debug mode the freed block keeps its data",
      );
      assert.is(heap.addressOf(stale, 10), p + 40);
      stale[5] = 3;
      assert.is(heap.alloc(4096), p);
      continue;
    }
    assert.ok(
      stale.every((v) => Number.isNaN(v)),
      "a freed block reads NaN",
    );
    assert.throws(
      () => heap.addressOf(stale, 10),
      (e: unknown) =>
        e instanceof WasmMemoryError &&
        e.message.includes(`an array at address ${p + 40} lies in the block [${p}, ${p + 4096}) that was freed`),
    );
    assert.is(heap.addressOf(heap.f32(blocks[4] as Ptr, 4), 0), blocks[4], "a live block is fine");
    stale[5] = 3; // a write through the stale view
    assert.throws(
      () => heap.alloc(4096),
      (e: unknown) =>
        e instanceof WasmMemoryError &&
        e.message.includes(`the freed block [${p}, ${p + 4096}) was written at address ${p + 20} after it was freed`),
    );
  }
});

test("debug mode: freed blocks stay out of reuse while fresh memory lasts", () => {
  const heap = new WasmHeap({ maximumPages: 64, initialBytes: PAGE_BYTES, debug: true });
  const p = heap.alloc(1000);
  heap.free(p);
  const q = heap.alloc(1000);
  assert.is.not(q, p);
  heap.f32(q, 250).fill(7);
  assert.ok(
    heap.f32(p, 250).every((v) => Number.isNaN(v)),
    "the quarantined block keeps its poison",
  );
});

test("debug mode: a view made by hand on a resident array's buffer outlives it, reads NaN and is refused by addressOf", async () => {
  const heap = new WasmHeap({ maximumPages: 64, initialBytes: PAGE_BYTES, debug: true });
  const hand = (() => {
    const a = residentF32(heap, 1000);
    a.fill(2);
    return new Float32Array(a.buffer, a.byteOffset, a.length); // not a subarray: a is collectable
  })();
  await settle();
  assert.ok(
    hand.every((v) => Number.isNaN(v)),
    "the hand-made view should read the poison of the freed block",
  );
  assert.throws(() => heap.addressOf(hand), /DLRM_DEBUG_MEMORY.*that was freed: a view or pointer outlived its block/);
});

test("DLRM_DEBUG_MEMORY: 1 or 0 (unset = 0), anything else an error naming the variable; with 1 the step arena poisons what an earlier step left", () => {
  assert.is(debugMemoryFromEnv(undefined), false);
  assert.is(debugMemoryFromEnv(""), false);
  assert.is(debugMemoryFromEnv("0"), false);
  assert.is(debugMemoryFromEnv("1"), true);
  assert.throws(() => debugMemoryFromEnv("yes"), /DLRM_DEBUG_MEMORY must be "1" or "0", got "yes"/);
  // A tensor kept from one step, read after the next step began: NaN in debug mode, the stale 5 without.
  const script = [
    `import { allocFloat, withStepArena } from ${JSON.stringify(new URL("../../src/tensor/storage.ts", import.meta.url).pathname)};`,
    `const kept = withStepArena(() => allocFloat("float32", 8).fill(5));`,
    `withStepArena(() => {});`,
    `console.log(String(kept[0]));`,
  ].join("\n");
  const run = (value: string): string =>
    execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, DLRM_DEBUG_MEMORY: value },
      encoding: "utf8",
    }).trim();
  assert.is(run("1"), "NaN");
  assert.is(run("0"), "5");
});

test.run();
