import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  parseSafetensors,
  readSafetensors,
  SafetensorsError,
  serializeSafetensors,
  toFloat32,
  toInt32,
  writeSafetensors,
  type SafetensorsData,
  type SafetensorsDType,
  type SafetensorsTensor,
} from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { GOLDEN } from "../helpers/golden.ts";

// ---------------------------------------------------------------------------------------
// Helpers: a valid file, and malformed ones made by editing its bytes.

/** a F32 (2, 3) at [0, 24), b I64 (4,) at [24, 56), c F64 (2,) at [56, 72). */
function baseFile(): Uint8Array {
  return serializeSafetensors(
    {
      a: { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      b: { dtype: "I64", shape: [4], data: BigInt64Array.from([1n, -2n, 3n, -4n]) },
      c: { dtype: "F64", shape: [2], data: Float64Array.from([0.5, -0.25]) },
    },
    { format: "pt" },
  );
}

/** The header (decoded by hand, not by the code under test) and the data section. */
function splitFile(bytes: Uint8Array): { header: Record<string, any>; data: Uint8Array } {
  const H = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + H))), data: bytes.subarray(8 + H) };
}

/** A file from raw header bytes and a data section; the length field says `declared` if given. */
function joinFile(header: string | Uint8Array, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** The base file with its header JSON edited. */
function edited(edit: (h: Record<string, any>) => void): Uint8Array {
  const { header, data } = splitFile(baseFile());
  edit(header);
  return joinFile(JSON.stringify(header), data);
}

const parse = (bytes: Uint8Array) => parseSafetensors(bytes, "m.safetensors");

function sameValues(actual: SafetensorsData, expected: SafetensorsData, what: string): void {
  assert.is(actual.constructor, expected.constructor, `${what}: array type`);
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    // Object.is: NaN equals NaN, and -0 must stay -0 (the bytes are copied exactly).
    assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "dlrm-st-"));
}

// ---------------------------------------------------------------------------------------
// Round trips and layout

const dtypeArb = fc.constantFrom<SafetensorsDType>("F32", "F64", "F16", "BF16", "I32", "I64", "U8");
const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }); // [] is a scalar

const tensorArb: fc.Arbitrary<SafetensorsTensor> = fc
  .tuple(dtypeArb, shapeArb)
  .chain(([dtype, shape]): fc.Arbitrary<SafetensorsTensor> => {
    const n = shape.reduce((a, b) => a * b, 1);
    const len = { minLength: n, maxLength: n };
    switch (dtype) {
      case "F32":
        return fc.array(fc.float(), len).map((v) => ({ dtype, shape, data: Float32Array.from(v) }));
      case "F64":
        return fc.array(fc.double(), len).map((v) => ({ dtype, shape, data: Float64Array.from(v) }));
      case "F16":
      case "BF16":
        return fc
          .array(fc.integer({ min: 0, max: 0xffff }), len)
          .map((v) => ({ dtype, shape, data: Uint16Array.from(v) }));
      case "I32":
        return fc
          .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), len)
          .map((v) => ({ dtype, shape, data: Int32Array.from(v) }));
      case "I64":
        return fc
          .array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), len)
          .map((v) => ({ dtype, shape, data: BigInt64Array.from(v) }));
      case "U8":
        return fc.array(fc.integer({ min: 0, max: 255 }), len).map((v) => ({ dtype, shape, data: Uint8Array.from(v) }));
    }
  });

test("round trip: random tensors of every dtype and shape (0-size dims, scalars), names and metadata", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ unit: "grapheme", maxLength: 6 }), tensorArb), { maxLength: 5 }),
      fc.dictionary(fc.string({ unit: "grapheme", maxLength: 5 }), fc.string({ unit: "grapheme", maxLength: 8 }), {
        maxKeys: 3,
      }),
      (list, metadata) => {
        // "t{i}:" keeps names unique and never an integer-like key
        const tensors = new Map(list.map(([s, t], i) => [`t${i}:${s}`, t] as const));
        const bytes = serializeSafetensors(tensors, metadata);
        const back = parse(bytes);
        // header padded to 8 bytes, data contiguous: nothing else in the file
        const H = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
        assert.is(H % 8, 0);
        assert.is(bytes.length, 8 + H + [...tensors.values()].reduce((s, t) => s + t.data.byteLength, 0));
        assert.equal([...back.tensors.keys()], [...tensors.keys()]);
        for (const [name, t] of tensors) {
          const u = back.tensors.get(name) as SafetensorsTensor;
          assert.is(u.dtype, t.dtype);
          assert.equal(u.shape, t.shape);
          sameValues(u.data, t.data, name);
        }
        assert.equal(Object.entries(back.metadata), Object.entries(metadata));
      },
    ),
    { seed: 20240601, numRuns: 60 },
  );
});

test("written layout matches the format byte for byte (decoded by hand)", () => {
  const bytes = serializeSafetensors(
    new Map<string, SafetensorsTensor>([
      ["a", { dtype: "F32", shape: [2], data: Float32Array.from([1, -2.5]) }],
      ["s", { dtype: "I64", shape: [], data: BigInt64Array.from([-3n]) }],
      ["e", { dtype: "I32", shape: [0, 3], data: new Int32Array(0) }],
    ]),
    { k: "v" },
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = Number(view.getBigUint64(0, true));
  assert.is(H % 8, 0, "header padded to a multiple of 8");
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + H));
  const json = text.trimEnd();
  assert.ok(/^ *$/.test(text.slice(json.length)), "padding is spaces");
  assert.ok(H - json.length < 8, "no more padding than needed");
  const header = JSON.parse(json);
  assert.equal(header.__metadata__, { k: "v" });
  assert.equal(header.a, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
  assert.equal(header.s, { dtype: "I64", shape: [], data_offsets: [8, 16] });
  assert.equal(header.e, { dtype: "I32", shape: [0, 3], data_offsets: [16, 16] });
  // 1.0f = 0x3f800000, -2.5f = 0xc0200000, -3 as i64 = 0xff..fd, all little-endian
  const expected = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  assert.equal(Array.from(bytes.subarray(8 + H)), expected);
});

test("parses from an unaligned view (odd byteOffset) and from a Node Buffer", () => {
  const valid = baseFile();
  const big = new Uint8Array(valid.length + 3);
  big.set(valid, 1);
  const f = parse(big.subarray(1, 1 + valid.length));
  sameValues(f.tensors.get("a")?.data as SafetensorsData, Float32Array.from([1, 2, 3, 4, 5, 6]), "a");
  sameValues(f.tensors.get("b")?.data as SafetensorsData, BigInt64Array.from([1n, -2n, 3n, -4n]), "b");
  sameValues(f.tensors.get("c")?.data as SafetensorsData, Float64Array.from([0.5, -0.25]), "c");
  const g = parse(Buffer.from(valid));
  sameValues(g.tensors.get("c")?.data as SafetensorsData, Float64Array.from([0.5, -0.25]), "c from Buffer");
  assert.equal(g.metadata, { format: "pt" });
});

// ---------------------------------------------------------------------------------------
// Golden files written by the reference (PyTorch + safetensors)

const goldenDir = `${GOLDEN}small/`;
const haveGolden = existsSync(goldenDir);
if (!haveGolden) console.log(`skipping the golden tests: ${goldenDir} is missing`);
const goldenTest = haveGolden ? test : test.skip;

interface GoldenConfig {
  dense_features: number;
  bottom_mlp: number[];
  top_mlp: number[];
  embedding_dim: number;
  table_sizes: number[];
  batch_size: number;
  steps: number;
  index_dtype: string;
}
const config = (): GoldenConfig => JSON.parse(readFileSync(join(goldenDir, "config.json"), "utf8"));

/** The parameter shapes the golden README promises, from config.json. */
function paramShapes(c: GoldenConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const mlp = (prefix: string, widths: number[]): void => {
    for (let i = 0; i + 1 < widths.length; i++) {
      shapes.set(`${prefix}.${2 * i}.weight`, [widths[i + 1] as number, widths[i] as number]);
      shapes.set(`${prefix}.${2 * i}.bias`, [widths[i + 1] as number]);
    }
  };
  mlp("bot_l", c.bottom_mlp);
  mlp("top_l", c.top_mlp);
  c.table_sizes.forEach((rows, t) => shapes.set(`emb_l.${t}.weight`, [rows, c.embedding_dim]));
  return shapes;
}

/** Element i of a tensor decoded straight from the file's bytes with a DataView. */
function rawValue(bytes: Uint8Array, name: string, i: number): number | bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = Number(view.getBigUint64(0, true));
  const entry = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + H)))[name];
  const at = 8 + H + entry.data_offsets[0];
  switch (entry.dtype) {
    case "F32":
      return view.getFloat32(at + 4 * i, true);
    case "F64":
      return view.getFloat64(at + 8 * i, true);
    case "I32":
      return view.getInt32(at + 4 * i, true);
    default:
      return view.getBigInt64(at + 8 * i, true);
  }
}

goldenTest(
  "golden init.safetensors and expected.safetensors: names, dtypes and shapes per the README; values by hand",
  () => {
    const c = config();
    const shapes = paramShapes(c);
    const initPath = join(goldenDir, "init.safetensors");
    const init = readSafetensors(initPath);
    assert.equal([...init.tensors.keys()].sort(), [...shapes.keys()].sort());
    for (const [name, shape] of shapes) {
      const t = init.tensors.get(name) as SafetensorsTensor;
      assert.is(t.dtype, "F32", name);
      assert.equal(t.shape, shape, name);
    }
    const bytes = readFileSync(initPath);
    const w = init.tensors.get("bot_l.0.weight")?.data as Float32Array;
    for (const i of [0, 5, w.length - 1])
      assert.ok(Object.is(w[i], rawValue(bytes, "bot_l.0.weight", i)), `bot_l.0.weight[${i}]`);
    const e = init.tensors.get("emb_l.3.weight")?.data as Float32Array;
    assert.ok(Object.is(e[e.length - 1], rawValue(bytes, "emb_l.3.weight", e.length - 1)));

    const expected = readSafetensors(join(goldenDir, "expected.safetensors"));
    assert.equal(expected.tensors.get("pred.0")?.shape, [c.batch_size]);
    assert.equal(expected.tensors.get("loss")?.shape, [c.steps]);
    for (const [name, shape] of shapes) {
      assert.equal(expected.tensors.get(`grad.${name}`)?.shape, shape, `grad.${name}`);
      assert.equal(expected.tensors.get(`final.${name}`)?.shape, shape, `final.${name}`);
    }
    const pred = expected.tensors.get("pred.0")?.data as Float32Array;
    for (const p of pred) assert.ok(p > 0 && p < 1, `prediction ${p} is a probability`);
  },
);

goldenTest("golden batches.safetensors: dtypes and shapes per the README; indices decoded by hand", () => {
  const c = config();
  const path = join(goldenDir, "batches.safetensors");
  const f = readSafetensors(path);
  const N = c.steps * c.batch_size;
  assert.equal(f.tensors.get("dense")?.shape, [N, c.dense_features]);
  assert.is(f.tensors.get("dense")?.dtype, "F32");
  assert.equal(f.tensors.get("labels")?.shape, [N]);
  const bytes = readFileSync(path);
  for (let t = 0; t < c.table_sizes.length; t++) {
    const lengths = f.tensors.get(`lengths.${t}`) as SafetensorsTensor;
    const indices = f.tensors.get(`indices.${t}`) as SafetensorsTensor;
    assert.is(lengths.dtype, "I32");
    assert.equal(lengths.shape, [N]);
    assert.is(indices.dtype, c.index_dtype === "int64" ? "I64" : "I32");
    let sum = 0;
    for (let i = 0; i < N; i++) sum += rawValue(bytes, `lengths.${t}`, i) as number;
    assert.equal(indices.shape, [sum]);
    for (let j = 0; j < sum; j++) assert.is(indices.data[j], rawValue(bytes, `indices.${t}`, j), `indices.${t}[${j}]`);
  }
});

// ---------------------------------------------------------------------------------------
// Rejections, one per rule

test("rejects a file shorter than 8 bytes", () => {
  assertThrows(
    () => parse(new Uint8Array(5)),
    /^m\.safetensors: file is 5 bytes, shorter than the 8-byte header length/,
  );
  assertThrows(() => parse(new Uint8Array(0)), /^m\.safetensors: file is 0 bytes/);
  try {
    parse(new Uint8Array(3));
  } catch (e) {
    assert.ok(e instanceof SafetensorsError, "rejections are SafetensorsErrors");
  }
});

test("rejects a header length past the end of the file", () => {
  const { header, data } = splitFile(baseFile());
  const text = JSON.stringify(header);
  const declared = BigInt(text.length + data.length + 1);
  assertThrows(
    () => parse(joinFile(text, data, declared)),
    new RegExp(`^m\\.safetensors: header length ${declared} runs past the end of the file`),
  );
});

test("rejects an absurdly large header length without allocating it", () => {
  const bytes = baseFile();
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
  assertThrows(
    () => parse(bytes),
    /^m\.safetensors: header length 1099511627776 is absurdly large \(limit 100000000 bytes\)/,
  );
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
  assertThrows(() => parse(bytes), /^m\.safetensors: header length 18446744073709551615 is absurdly large/);
});

test("rejects a header that is not valid UTF-8", () => {
  const h = new TextEncoder().encode('{"aX":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
  h[3] = 0xff; // the X: never valid in UTF-8
  assertThrows(() => parse(joinFile(h, new Uint8Array(0))), /^m\.safetensors: header is not valid UTF-8/);
});

test("rejects a header that is not JSON", () => {
  const { header, data } = splitFile(baseFile());
  const text = JSON.stringify(header).slice(0, -1) + " "; // the closing brace lost
  assertThrows(() => parse(joinFile(text, data)), /^m\.safetensors: header is not valid JSON/);
});

test("rejects a header that is not a JSON object", () => {
  for (const text of ["[1, 2]", "null", '"abc"', "42"]) {
    assertThrows(() => parse(joinFile(text, new Uint8Array(0))), /^m\.safetensors: header is not a JSON object/);
  }
});

test("rejects a tensor entry with a missing field or a field of the wrong type", () => {
  for (const key of ["dtype", "shape", "data_offsets"]) {
    assertThrows(
      () => parse(edited((h) => delete h.b[key])),
      new RegExp(`^m\\.safetensors: tensor "b": header entry has no "${key}"`),
    );
  }
  assertThrows(() => parse(edited((h) => (h.b = 7))), /^m\.safetensors: tensor "b": header entry is not an object: 7/);
  assertThrows(
    () => parse(edited((h) => (h.b.dtype = 4))),
    /^m\.safetensors: tensor "b": dtype must be a string, got 4/,
  );
  assertThrows(
    () => parse(edited((h) => (h.b.shape = "4"))),
    /^m\.safetensors: tensor "b": shape must be an array of integers, got "4"/,
  );
  assertThrows(
    () => parse(edited((h) => (h.b.data_offsets = [24]))),
    /^m\.safetensors: tensor "b": data_offsets must be \[begin, end\] with non-negative integers, got \[24\]/,
  );
  assertThrows(
    () => parse(edited((h) => (h.b.data_offsets = [24, "56"]))),
    /tensor "b": data_offsets must be \[begin, end\]/,
  );
  assertThrows(
    () => parse(edited((h) => (h.b.data_offsets = [-8, 24]))),
    /tensor "b": data_offsets must be \[begin, end\] with non-negative integers, got \[-8,24\]/,
  );
});

test("reads F16 and BF16 tensors from hand-built bytes (little-endian 16-bit patterns)", () => {
  const json = new TextEncoder().encode(
    JSON.stringify({
      h: { dtype: "F16", shape: [2], data_offsets: [0, 4] },
      b: { dtype: "BF16", shape: [1, 1], data_offsets: [4, 6] },
    }),
  );
  const bytes = new Uint8Array(8 + json.length + 6);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set([0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f], 8 + json.length); // F16 1, -2; BF16 1
  const f = parseSafetensors(bytes, "h.safetensors");
  assert.equal(Array.from(toFloat32(f.tensors.get("h") as SafetensorsTensor, "h")), [1, -2]);
  assert.equal(f.tensors.get("b")?.shape, [1, 1]);
  assert.equal(Array.from(toFloat32(f.tensors.get("b") as SafetensorsTensor, "b")), [1]);
  assertThrows(
    () => parse(edited((h) => (h.a.dtype = "F16"))),
    /^m\.safetensors: tensor "a": shape \(2, 3\) of F16 needs 12 bytes but data_offsets \[0, 24\] hold 24/,
  );
});

test("rejects an unknown dtype", () => {
  assertThrows(
    () => parse(edited((h) => (h.a.dtype = "F8_E4M3"))),
    /^m\.safetensors: tensor "a": unknown dtype "F8_E4M3" \(supported: F32, F64, F16, BF16, I32, I64, U8\)/,
  );
});

test("rejects negative and non-integer shape dims", () => {
  assertThrows(
    () => parse(edited((h) => (h.a.shape = [-2, -3]))),
    /^m\.safetensors: tensor "a": shape \[-2,-3\] has a dimension that is not a non-negative integer: -2/,
  );
  assertThrows(
    () => parse(edited((h) => (h.a.shape = [1.5, 4]))),
    /^m\.safetensors: tensor "a": shape \[1\.5,4\] has a dimension that is not a non-negative integer: 1\.5/,
  );
  assertThrows(() => parse(edited((h) => (h.a.shape = [2, "3"]))), /tensor "a": .*not a non-negative integer: "3"/);
});

test("rejects a shape whose size disagrees with its byte range", () => {
  assertThrows(
    () => parse(edited((h) => (h.a.shape = [2, 2]))),
    /^m\.safetensors: tensor "a": shape \(2, 2\) of F32 needs 16 bytes but data_offsets \[0, 24\] hold 24/,
  );
  assertThrows(
    () => parse(edited((h) => (h.b.dtype = "I32"))),
    /^m\.safetensors: tensor "b": shape \(4,\) of I32 needs 16 bytes but data_offsets \[24, 56\] hold 32/,
  );
});

test("rejects offsets past the end of the data section", () => {
  assertThrows(
    () => parse(edited((h) => (h.c.data_offsets = [64, 80]))),
    /^m\.safetensors: tensor "c": data_offsets \[64, 80\] run past the end of the data section \(72 bytes/,
  );
});

test("rejects offsets whose begin is after their end", () => {
  assertThrows(
    () => parse(edited((h) => (h.a.data_offsets = [24, 0]))),
    /^m\.safetensors: tensor "a": data_offsets \[24, 0\] have begin after end/,
  );
});

test("rejects overlapping byte ranges", () => {
  // b moved 8 bytes back into a's range [0, 24)
  assertThrows(
    () => parse(edited((h) => (h.b.data_offsets = [16, 48]))),
    /^m\.safetensors: tensor "b": data_offsets \[16, 48\] overlap those of tensor "a" \[0, 24\]/,
  );
  // two tensors on the very same bytes
  assertThrows(
    () => parse(edited((h) => (h.c.data_offsets = [24, 40]))),
    /tensor "b": data_offsets \[24, 56\] overlap those of tensor "c" \[24, 40\]/,
  );
});

test("rejects bytes after the last tensor, as the format's reader does (an inserted byte would shift every weight)", () => {
  const { header, data } = splitFile(baseFile());
  const longer = new Uint8Array(data.length + 5).fill(0xee);
  longer.set(data);
  assertThrows(
    () => parse(joinFile(JSON.stringify(header), longer)),
    /^m\.safetensors: 5 bytes after the last tensor belong to no tensor \(the data section is 77 bytes, its tensors end at 72\)$/,
  );
});

test("rejects a gap between tensors and before the first one", () => {
  // c moved 8 bytes on, into a data section 8 bytes longer: bytes [56, 64) belong to nobody
  const { header, data } = splitFile(baseFile());
  header.c.data_offsets = [64, 80];
  const longer = new Uint8Array(data.length + 8);
  longer.set(data);
  assertThrows(
    () => parse(joinFile(JSON.stringify(header), longer)),
    /^m\.safetensors: tensor "c": data_offsets \[64, 80\] leave a gap: bytes \[56, 64\) of the data section belong to no tensor$/,
  );
  const only = joinFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8));
  assertThrows(() => parse(only), /^m\.safetensors: tensor "a": data_offsets \[4, 8\] leave a gap: bytes \[0, 4\)/);
});

test("rejects a tensor name given twice (JSON.parse would keep the last silently), and a metadata key given twice", () => {
  const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  assertThrows(
    () => parse(joinFile(`{"a":${entry}, "a" :${entry}}`, new Uint8Array(4))),
    /^m\.safetensors: tensor "a" appears twice in the header$/,
  );
  // the same name spelt with an escape is the same name
  assertThrows(
    () => parse(joinFile(`{"a":${entry},"\\u0061":${entry}}`, new Uint8Array(4))),
    /^m\.safetensors: tensor "a" appears twice/,
  );
  assertThrows(
    () => parse(joinFile(`{"__metadata__":{"k":"1","k":"2"},"a":${entry}}`, new Uint8Array(4))),
    /^m\.safetensors: header: "__metadata__" has the key "k" twice$/,
  );
  // equal keys in different objects, and a name inside a string value, are fine
  const ok = parse(joinFile(`{"__metadata__":{"a":"\\"a\\":"},"a":${entry}}`, new Uint8Array(4)));
  assert.equal(ok.metadata, { a: '"a":' });
});

test("readSafetensors (positional, from disk) applies the same checks: a gap is named with the file", () => {
  const dir = tempDir();
  try {
    const { header, data } = splitFile(baseFile());
    header.c.data_offsets = [64, 80];
    const longer = new Uint8Array(data.length + 8);
    longer.set(data);
    const path = join(dir, "gap.safetensors");
    writeFileSync(path, joinFile(JSON.stringify(header), longer));
    assertThrows(
      () => readSafetensors(path),
      new RegExp(`^${path.replace(/[.]/g, "\\.")}: tensor "c": data_offsets \\[64, 80\\] leave a gap`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rejects a truncated file, cut in the data or in the header", () => {
  const bytes = baseFile();
  assertThrows(
    () => parse(bytes.subarray(0, bytes.length - 3)),
    /^m\.safetensors: tensor "c": data_offsets \[56, 72\] run past the end of the data section \(69 bytes; is the file truncated\?\)/,
  );
  assertThrows(
    () => parse(bytes.subarray(0, 20)),
    /^m\.safetensors: header length \d+ runs past the end of the file \(20 bytes; is the file truncated\?\)/,
  );
});

test("rejects __metadata__ that is not a string-to-string object", () => {
  assertThrows(
    () => parse(edited((h) => (h.__metadata__ = { format: "pt", epoch: 3 }))),
    /^m\.safetensors: __metadata__ must map strings to strings, but "epoch" is 3/,
  );
  assertThrows(
    () => parse(edited((h) => (h.__metadata__ = ["pt"]))),
    /^m\.safetensors: __metadata__ must be an object of strings, got \["pt"\]/,
  );
});

test("serialize rejects a tensor whose array, size or shape disagrees, and reserved names", () => {
  const bad = (t: SafetensorsTensor) => () => serializeSafetensors({ w: t });
  assertThrows(
    bad({ dtype: "F32", shape: [2], data: new Float64Array(2) }),
    /^serializeSafetensors: tensor "w": dtype F32 needs a Float32Array, got Float64Array/,
  );
  assertThrows(
    bad({ dtype: "I64", shape: [2], data: new Int32Array(2) }),
    /tensor "w": dtype I64 needs a BigInt64Array, got Int32Array/,
  );
  assertThrows(
    bad({ dtype: "F32", shape: [2, 3], data: new Float32Array(5) }),
    /^serializeSafetensors: tensor "w": data has 5 elements but shape \(2, 3\) needs 6/,
  );
  assertThrows(
    bad({ dtype: "F32", shape: [-1], data: new Float32Array(0) }),
    /tensor "w": shape \[-1\] has a dimension that is not a non-negative integer: -1/,
  );
  assertThrows(
    () => serializeSafetensors({ __metadata__: { dtype: "F32", shape: [0], data: new Float32Array(0) } }),
    /tensor "__metadata__": the name is reserved/,
  );
});

// ---------------------------------------------------------------------------------------
// Conversions

test("toInt32: I32 as is, I64 checked to fit (naming the position and value), floats rejected", () => {
  const i32 = Int32Array.from([1, -2]);
  assert.is(toInt32({ dtype: "I32", shape: [2], data: i32 }, "x"), i32);
  const ok = toInt32({ dtype: "I64", shape: [3], data: BigInt64Array.from([-(2n ** 31n), 0n, 2n ** 31n - 1n]) }, "x");
  assert.equal(Array.from(ok), [-2147483648, 0, 2147483647]);
  assertThrows(
    () => toInt32({ dtype: "I64", shape: [3], data: BigInt64Array.from([0n, 7n, 2n ** 31n]) }, "f.st: idx"),
    /^f\.st: idx: value 2147483648 at position 2 does not fit in int32/,
  );
  assertThrows(
    () => toInt32({ dtype: "I64", shape: [1], data: BigInt64Array.from([-(2n ** 40n)]) }, "idx"),
    /^idx: value -1099511627776 at position 0 does not fit in int32/,
  );
  assertThrows(
    () => toInt32({ dtype: "F32", shape: [1], data: new Float32Array(1) }, "idx"),
    /^idx: expected an integer tensor \(I32 or I64\), got F32/,
  );
});

test("toFloat32: F32 as is, F64 rounded to nearest float32, F16 and BF16 upcast, integers rejected", () => {
  // Hand-computed: F16 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504, 0x0001 = 2^-24; BF16 0x3f80 = 1, 0xc049 = -3.140625
  assert.equal(
    Array.from(toFloat32({ dtype: "F16", shape: [4], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]) }, "h")),
    [1, -2, 65504, 2 ** -24],
  );
  assert.equal(
    Array.from(toFloat32({ dtype: "BF16", shape: [2], data: Uint16Array.from([0x3f80, 0xc049]) }, "b")),
    [1, -3.140625],
  );
  const f32 = Float32Array.from([0.5, -1]);
  assert.equal(Array.from(toFloat32({ dtype: "F32", shape: [2], data: f32 }, "x")), [0.5, -1]);
  const x = [0.1, -1e-40, 3.4e39, 1 / 3];
  const out = toFloat32({ dtype: "F64", shape: [4], data: Float64Array.from(x) }, "x");
  assert.equal(Array.from(out), x.map(Math.fround)); // exact: float32 rounding is deterministic
  assertThrows(
    () => toFloat32({ dtype: "I32", shape: [1], data: new Int32Array(1) }, "f.st: dense"),
    /^f\.st: dense: expected a float tensor \(F32, F64, F16 or BF16\), got I32/,
  );
  assertThrows(
    () => toFloat32({ dtype: "I64", shape: [1], data: new BigInt64Array(1) }, "d"),
    /^d: expected a float tensor .* got I64/,
  );
});

// ---------------------------------------------------------------------------------------
// Files and atomic writes

test("writeSafetensors/readSafetensors round trip and overwrite, leaving no temp file; unreadable paths are named", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "ckpt.safetensors");
    writeSafetensors(path, { x: { dtype: "F32", shape: [1], data: Float32Array.from([1]) } });
    writeSafetensors(path, { y: { dtype: "I32", shape: [2], data: Int32Array.from([3, 4]) } }, { note: "second" });
    const f = readSafetensors(path);
    assert.equal([...f.tensors.keys()], ["y"]);
    sameValues(f.tensors.get("y")?.data as SafetensorsData, Int32Array.from([3, 4]), "y");
    assert.equal(f.metadata, { note: "second" });
    assert.equal(readdirSync(dir), ["ckpt.safetensors"]);
    const missing = join(dir, "nope.safetensors");
    assertThrows(() => readSafetensors(missing), new RegExp(`^${missing.replace(/[.]/g, "\\.")}: cannot read: ENOENT`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failing write leaves no file and no temp file: missing folder, and a path that is a folder", () => {
  const dir = tempDir();
  try {
    const t = { x: { dtype: "F32" as const, shape: [1], data: Float32Array.from([1]) } };
    const inMissing = join(dir, "no-such-dir", "a.safetensors");
    assertThrows(() => writeSafetensors(inMissing, t), /no-such-dir\/a\.safetensors: cannot write: ENOENT/);
    assert.equal(readdirSync(dir), []);
    // The temp file is created and written, then the rename over a folder fails: it must go.
    mkdirSync(join(dir, "taken"));
    assertThrows(() => writeSafetensors(join(dir, "taken"), t), /taken: cannot write: E(ISDIR|EXIST|NOTEMPTY)/);
    assert.equal(readdirSync(dir), ["taken"]);
    assert.equal(readdirSync(join(dir, "taken")), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a tensor whose data disagrees with its shape writes nothing, and an existing file stays intact", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "m.safetensors");
    const bad = { w: { dtype: "F32" as const, shape: [2, 3], data: new Float32Array(5) } };
    assertThrows(
      () => writeSafetensors(path, bad),
      /m\.safetensors: tensor "w": data has 5 elements but shape \(2, 3\) needs 6/,
    );
    assert.equal(readdirSync(dir), []);
    const before = baseFile();
    writeFileSync(path, before);
    assertThrows(() => writeSafetensors(path, bad), /tensor "w": data has 5 elements/);
    assert.equal(readdirSync(dir), ["m.safetensors"]);
    assert.equal(Array.from(readFileSync(path)), Array.from(before));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
