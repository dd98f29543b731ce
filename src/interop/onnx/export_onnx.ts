// The DLRM of a checkpoint as an ONNX model (opset 17, standard operators only), for
// serving it with ONNX Runtime or any other ONNX engine; docs/serving.md is the user's side.
//
//   dense (B, Dd) ─Gemm,Relu…─▶ x (B, E) ──────────────────────────┐
//   indices_t, offsets_t ─Gather, ScatterND(add)─▶ e_t (B, E) ──────┴─ interaction ─Gemm,Relu…,Gemm─▶ Sigmoid ─▶ pred (B)
//
// Embedding bags, two layouts of the inputs (chosen at export):
//   - variable bags (default): per table indices_t int64 (N_t) and offsets_t int64 (B), the
//     tensors of PyTorch's EmbeddingBag, the reference's lS_i/lS_o and our batch file (bag b
//     is indices[offsets[b] .. offsets[b+1]), the last bag ends at N_t). The rows are
//     gathered, (N_t, E), and summed into their bags by ScatterND with reduction "add" at
//     each lookup's bag number, which comes from the offsets by a ScatterElements("add") of
//     ones at the offsets and a CumSum: linear in the lookups, no padding, empty bags
//     pool to zeros.
//   - fixed bags of L lookups: indices_t int64 (B, L); Gather gives (B, L, E), ReduceSum
//     over L pools.
//   Per-sample weights (the config's per_sample_weights) are an input weights_t float
//   shaped like indices_t that scales each gathered row; learned weighted pooling (the
//   reference's v_W_l.{t}, one weight per table row) gathers its weights at the ids and
//   scales the rows the same way (times weights_t when both are there); mean pooling divides
//   by the bag's lookup count (1 for an empty bag).
// Interaction: dot stacks T = [x, e_0, …] (B, F, E), takes MatMul(T, Tᵀ) (B, F, F) and
// gathers the reference's lower-triangle pairs (i-major, j < i, or j <= i with
// self-interaction) from its flattened rows; cat concatenates.
//
// Tables stream from the checkpoint into the output chunk by chunk (never a whole table in
// memory). A table over `externalOver` bytes (default 2 GiB) is stored as external data in
// <model>.data beside the model, at 4096-aligned offsets; so are the largest remaining
// tables if the model file would otherwise reach protobuf's 2 GiB limit.
//
// Glossary: B batch, Dd dense features, E embedding dim, F features = tables + 1, N_t
// lookups of table t in the batch, L lookups per bag (fixed bags), P interaction pairs.

import { closeSync, openSync } from "node:fs";
import { basename } from "node:path";
import { crossWidth, type DLRMConfig } from "../../dlrm/config.ts";
import { checkCheckpoint, readPiece } from "../../dlrm/checkpoint.ts";
import { parameterSpecs } from "../../dlrm/init.ts";
import { tableParameter } from "../../dlrm/tables/layout.ts";
import { poolingWeightName } from "../../dlrm/tables/learned_pooling.ts";
import { writeFileAtomically } from "../../io/atomic_file.ts";
import {
  modelProto,
  ONNX_FLOAT,
  ONNX_INT64,
  type OnnxAttribute,
  type OnnxElemType,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from "./onnx.ts";
import type { DeferredBytes } from "./protobuf.ts";
import type { SafetensorsIndex } from "../../io/safetensors.ts";
import { readCheckpointIndex } from "../checkpoint_file.ts";
import { isStateTensorName } from "../../optim/make.ts";

export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR of ONNX 1.12, whose opset is 17

/** Tables over this many bytes go to external data unless told otherwise. */
export const DEFAULT_EXTERNAL_OVER = 2 ** 31;
/** protobuf's limit on one message, which the .onnx file is; kept clear of by a margin for the graph and the MLPs' headroom. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;
const INLINE_BUDGET = PROTOBUF_LIMIT - 64 * 2 ** 20;
const EXTERNAL_ALIGN = 4096;
const CHUNK_BYTES = 16 * 2 ** 20;

export interface OnnxExportOptions {
  /** null: variable bags (indices_t and offsets_t); L: every bag has exactly L lookups (indices_t (B, L)). */
  bagSize: number | null;
  /** Tables of more bytes than this are stored as external data. */
  externalOver: number;
}

export interface OnnxExportResult {
  /** Bytes of the .onnx file. */
  modelBytes: number;
  /** The external-data file (path) and the tables in it, or null when every table is inline. */
  external: { path: string; tables: number[]; bytes: number } | null;
}

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(`export: ${message}`);
    this.name = "OnnxExportError";
  }
}

/**
 * How each config field enters the export: mapped over DLRMConfig, so a field added there
 * fails tsc here until someone decides whether the graph expresses it.
 */
const CONFIG_FIELDS: { readonly [K in keyof DLRMConfig]: "graph" | "training only" | "data only" } = {
  dense_features: "graph",
  bottom_mlp: "graph",
  embedding_dim: "graph",
  table_sizes: "graph",
  pooling: "graph",
  interaction: "graph",
  interaction_itself: "graph",
  dcn_num_layers: "graph", // dcn, cross: the cross layers, as Gemm/MatMul, Mul and Add
  dcn_low_rank_dim: "graph",
  deep_mlp: "graph", // cross: Gemm and Relu layers beside the cross layers
  top_mlp: "graph",
  per_sample_weights: "graph",
  weighted_pooling: "graph", // learned: v_W_l.{t} gathered at the ids scales each lookup; fixed: weights of one
  loss: "training only", // both losses train a sigmoid output, which is what the graph ends with
  optimizer: "training only",
  lr: "training only",
  batch_size: "training only",
  steps: "training only",
  bag_size: "data only", // the bag layout of the exported model is the export's choice (OnnxExportOptions)
  index_dtype: "data only", // the graph takes int64 ids whatever the data files held
};

/** What a checkpoint tensor the plain model lacks belongs to, for the error that names it. */
function featureOf(name: string): string {
  const qr = /^emb_l\.(\d+)\.weight_[qr]$/.exec(name);
  if (qr !== null) return `quotient-remainder embeddings (table ${qr[1]}, "${name}")`;
  const md = /^emb_l\.(\d+)\.(embs|proj)\.weight$/.exec(name);
  if (md !== null) return `mixed-dimension embeddings (table ${md[1]}, "${name}")`;
  return `tensor "${name}", which a DLRM of its config does not have`;
}

/** Throws, naming the feature, when the checkpoint or config uses something the exported graph does not express. */
function checkExpressible(config: DLRMConfig, index: SafetensorsIndex): void {
  for (const key of Object.keys(config)) {
    if (!(key in CONFIG_FIELDS))
      throw new OnnxExportError(`the model's "${key}" is a feature the ONNX export does not express`);
  }
  const params = new Set(parameterSpecs(config).map((p) => p.name));
  for (const name of index.entries.keys()) {
    if (!params.has(name) && !isStateTensorName(name))
      throw new OnnxExportError(`${index.path}: ${featureOf(name)} cannot be exported to ONNX (plain tables only)`);
  }
}

/** A graph under construction: nodes in order, constants as initializers, fresh value names. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  #count = 0;
  readonly #constants = new Map<string, string>();

  /** Add a node; returns the name of its (single) output. */
  op(op: string, inputs: readonly string[], attributes: Record<string, OnnxAttribute> = {}, output?: string): string {
    const out = output ?? `${op.toLowerCase()}_${this.#count++}`;
    this.nodes.push({ op, inputs, outputs: [out], attributes });
    return out;
  }

  /** A small constant; asking again for the same name gives the one already made (it must hold the same values). */
  constant(
    name: string,
    elemType: OnnxElemType,
    values: readonly number[],
    dims: readonly number[] = [values.length],
  ): string {
    const key = `${elemType}:${dims.join(",")}:${values.join(",")}`;
    const known = this.#constants.get(name);
    if (known !== undefined) {
      if (known !== key) throw new Error(`export: constant "${name}" made twice with different values`);
      return name;
    }
    this.#constants.set(name, key);
    this.initializers.push({ name, elemType, dims, data: { kind: "raw", bytes: littleEndian(elemType, values) } });
    return name;
  }

  /** A parameter (its values as read from the checkpoint). */
  parameter(name: string, values: Float32Array, dims: readonly number[]): string {
    this.initializers.push({
      name,
      elemType: ONNX_FLOAT,
      dims,
      data: { kind: "raw", bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) },
    });
    return name;
  }
}

/** Values as the little-endian bytes of float32 or int64 elements. */
function littleEndian(elemType: OnnxElemType, values: readonly number[]): Uint8Array {
  const size = elemType === ONNX_FLOAT ? 4 : 8;
  const bytes = new Uint8Array(size * values.length);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) =>
    elemType === ONNX_FLOAT ? view.setFloat32(4 * i, v, true) : view.setBigInt64(8 * i, BigInt(v), true),
  );
  return bytes;
}

/** A one-element tensor attribute (ConstantOfShape's value). */
function scalarAttribute(elemType: OnnxElemType, value: number): OnnxAttribute {
  return {
    kind: "tensor",
    value: { name: "value", elemType, dims: [1], data: { kind: "raw", bytes: littleEndian(elemType, [value]) } },
  };
}

/** The bytes of table name (R, E) of the checkpoint, read piece by piece when asked for. */
function tableSource(index: SafetensorsIndex, name: string, R: number, E: number, fd: number): DeferredBytes {
  return {
    length: 4 * R * E,
    produce(emit) {
      const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (4 * E)));
      const buffer = new Float32Array(Math.min(R, rowsPerChunk) * E);
      for (let r = 0; r < R; r += rowsPerChunk) {
        const part = buffer.subarray(0, (Math.min(R, r + rowsPerChunk) - r) * E); // (rows, E)
        readPiece(index, name, r * E, part, fd);
        emit(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      }
    },
  };
}

/** Which tables go to external data: those over externalOver, then the largest until the rest fits in one protobuf. */
export function externalTables(config: DLRMConfig, externalOver: number): Set<number> {
  const bytes = config.table_sizes.map((R) => 4 * R * config.embedding_dim);
  const out = new Set(bytes.flatMap((b, t) => (b > externalOver ? [t] : [])));
  const mlpBytes = parameterSpecs(config)
    .filter((p) => !p.name.startsWith("emb_l."))
    .reduce((n, p) => n + 4 * p.shape.reduce((a, d) => a * d, 1), 0);
  let inline = mlpBytes + bytes.reduce((n, b, t) => (out.has(t) ? n : n + b), 0);
  const bySize = bytes.map((b, t) => [b, t] as const).sort((a, b) => b[0] - a[0]);
  for (const [b, t] of bySize) {
    if (inline <= INLINE_BUDGET) break;
    if (out.has(t)) continue;
    out.add(t);
    inline -= b;
  }
  if (inline > INLINE_BUDGET)
    throw new OnnxExportError(`the MLPs alone (${mlpBytes} bytes) pass protobuf's 2 GiB limit on a model file`);
  return out;
}

/**
 * dcn and cross (src/dlrm/interaction_arch.ts): x_0 = [x, e_0, …] (B, N), the cross layers
 * over it (dcn: x_0 ⊙ (Gemm(Gemm(x_l, V_l), W_l, b_l)) + x_l; cross: x_0 ⊙ (x_l · w_l) + b_l +
 * x_l), and for cross the deep MLP's Gemm and Relu layers over x_0 beside them.
 */
function crossGraph(
  g: GraphBuilder,
  config: DLRMConfig,
  read: (name: string, dims: number[]) => string,
  x: string,
  pooled: readonly string[],
): string {
  const N = crossWidth(config);
  const L = config.dcn_num_layers as number;
  const axis1 = { axis: { kind: "int", value: 1 } } as const;
  const transB = { transB: { kind: "int", value: 1 } } as const;
  const x0 = pooled.length === 0 ? x : g.op("Concat", [x, ...pooled], axis1); // (B, N)
  let xl = x0;
  for (let l = 0; l < L; l++) {
    const c = `inter_arch.crossnet`;
    if (config.interaction === "dcn") {
      const r = config.dcn_low_rank_dim as number;
      const v = g.op("Gemm", [xl, read(`${c}.V_kernels.${l}`, [r, N])], transB); // (B, r)
      const w = g.op("Gemm", [v, read(`${c}.W_kernels.${l}`, [N, r]), read(`${c}.bias.${l}`, [N])], transB); // (B, N)
      xl = g.op("Add", [g.op("Mul", [x0, w]), xl]);
    } else {
      const s = g.op("MatMul", [xl, read(`${c}.kernels.${l}`, [N, 1])]); // (B, 1)
      const b = read(`${c}.bias.${l}`, [N]); // stored (N, 1), the same values as (N,)
      xl = g.op("Add", [g.op("Add", [g.op("Mul", [x0, s]), b]), xl]);
    }
  }
  if (config.interaction === "dcn") return xl; // (B, N)
  const deep = config.deep_mlp as number[];
  let h = x0;
  deep.slice(1).forEach((width, i) => {
    const w = read(`inter_arch.deep.${2 * i}.weight`, [width, deep[i]]);
    h = g.op("Relu", [g.op("Gemm", [h, w, read(`inter_arch.deep.${2 * i}.bias`, [width])], transB)]);
  });
  return g.op("Concat", [xl, h], axis1); // (B, N + D)
}

/** The pairs of the dot interaction as positions in the flattened (F, F) product: i-major, j < i (j <= i with self). */
function pairPositions(F: number, self: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < F; i++) for (let j = 0; j < (self ? i + 1 : i); j++) out.push(i * F + j);
  return out;
}

/**
 * Write the DLRM of config with the parameters of checkpoint as an ONNX model at out (and,
 * for big tables, out + ".data"). Both files are written atomically.
 */
export function exportOnnx(
  config: DLRMConfig,
  checkpoint: string,
  out: string,
  opts: OnnxExportOptions,
): OnnxExportResult {
  if (opts.bagSize !== null && (!Number.isInteger(opts.bagSize) || opts.bagSize < 1))
    throw new OnnxExportError(`the bag size must be a positive integer, got ${opts.bagSize}`);
  const read = readCheckpointIndex(checkpoint); // safetensors or .pt, by extension
  checkExpressible(config, read);
  const index = checkCheckpoint(read, config);
  const fd = openSync(checkpoint, "r");
  try {
    return writeModel(config, index, fd, out, opts);
  } finally {
    closeSync(fd);
  }
}

function writeModel(
  config: DLRMConfig,
  index: SafetensorsIndex,
  fd: number,
  out: string,
  opts: OnnxExportOptions,
): OnnxExportResult {
  const E = config.embedding_dim;
  const F = config.table_sizes.length + 1;
  const L = opts.bagSize;
  const g = new GraphBuilder();
  const read = (name: string, dims: number[]): string => {
    const values = new Float32Array(dims.reduce((a, d) => a * d, 1));
    readPiece(index, name, 0, values, fd);
    return g.parameter(name, values, dims);
  };
  const inputs: OnnxValueInfo[] = [{ name: "dense", elemType: ONNX_FLOAT, shape: ["batch", config.dense_features] }];

  // Bottom MLP: Gemm takes PyTorch's (out, in) weights with transB; ReLU after every layer.
  let x = "dense"; // (B, Dd)
  config.bottom_mlp.slice(1).forEach((width, i) => {
    const w = read(`bot_l.${2 * i}.weight`, [width, config.bottom_mlp[i]]);
    const b = read(`bot_l.${2 * i}.bias`, [width]);
    x = g.op("Relu", [g.op("Gemm", [x, w, b], { transB: { kind: "int", value: 1 } })]);
  }); // x (B, E)

  // Tables: inline ones stream into the model, the rest into the external-data file.
  const external = externalTables(config, opts.externalOver);
  const dataPath = `${out}.data`;
  const dataName = basename(dataPath);
  const externalPieces: { at: number; source: DeferredBytes }[] = [];
  let dataBytes = 0;
  const int64 = (name: string, values: readonly number[], dims?: readonly number[]): string =>
    g.constant(name, ONNX_INT64, values, dims);
  const float = (name: string, value: number): string => g.constant(name, ONNX_FLOAT, [value], []);
  const axes1 = (): string => int64("axes_1", [1]);
  const one = (): string => int64("one", [1]);
  const pooled = config.table_sizes.map((R, t) => {
    const name = tableParameter(t);
    const source = tableSource(index, name, R, E, fd);
    if (external.has(t)) {
      dataBytes = Math.ceil(dataBytes / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      externalPieces.push({ at: dataBytes, source });
      g.initializers.push({
        name,
        elemType: ONNX_FLOAT,
        dims: [R, E],
        data: { kind: "external", location: dataName, offset: dataBytes, length: source.length },
      });
      dataBytes += source.length;
    } else {
      g.initializers.push({ name, elemType: ONNX_FLOAT, dims: [R, E], data: { kind: "raw", bytes: source } });
    }
    const ids = `indices_${t}`;
    const bagShape = L === null ? [`lookups_${t}`] : ["batch", L];
    inputs.push({ name: ids, elemType: ONNX_INT64, shape: bagShape });
    let rows = g.op("Gather", [name, ids], { axis: { kind: "int", value: 0 } }); // (N_t, E) or (B, L, E)
    let weights: string | null = null; // a factor per lookup, shaped like the ids
    if (config.per_sample_weights) {
      weights = `weights_${t}`;
      inputs.push({ name: weights, elemType: ONNX_FLOAT, shape: bagShape });
    }
    if (config.weighted_pooling === "learned") {
      // The reference's v_W_l[t].gather(0, ids) as per_sample_weights (times the data's, when it has them).
      const vName = poolingWeightName(t);
      g.initializers.push({
        name: vName,
        elemType: ONNX_FLOAT,
        dims: [R],
        data: { kind: "raw", bytes: tableSource(index, vName, R, 1, fd) },
      });
      const learned = g.op("Gather", [vName, ids], { axis: { kind: "int", value: 0 } });
      weights = weights === null ? learned : g.op("Mul", [weights, learned]);
    }
    if (weights !== null)
      rows = g.op("Mul", [rows, g.op("Unsqueeze", [weights, L === null ? axes1() : int64("axes_2", [2])])]);
    if (L !== null) {
      const sum = g.op("ReduceSum", [rows, axes1()], { keepdims: { kind: "int", value: 0 } }); // (B, E)
      return config.pooling === "mean" ? g.op("Div", [sum, float("bag_size", L)]) : sum;
    }
    const offsets = `offsets_${t}`;
    inputs.push({ name: offsets, elemType: ONNX_INT64, shape: ["batch"] });
    const N = g.op("Shape", [ids]); // (1,) = [N_t]
    const B = g.op("Shape", [offsets]); // (1,) = [B]
    // A lookup's bag is the number of offsets at or before it, minus one.
    const marks = g.op(
      "ScatterElements",
      [
        g.op("ConstantOfShape", [g.op("Add", [N, one()])], { value: scalarAttribute(ONNX_INT64, 0) }),
        offsets,
        g.op("ConstantOfShape", [B], { value: scalarAttribute(ONNX_INT64, 1) }),
      ],
      {
        axis: { kind: "int", value: 0 },
        reduction: { kind: "string", value: "add" },
      },
    ); // (N_t + 1,) offsets landing on each position
    const bagOfLookup = g.op("Slice", [
      g.op("Sub", [g.op("CumSum", [marks, int64("axis_0", [0], [])]), one()]),
      int64("start_0", [0]),
      N,
    ]); // (N_t,)
    const zeros = g.op(
      "ConstantOfShape",
      [g.op("Concat", [B, int64("embedding_dim", [E])], { axis: { kind: "int", value: 0 } })],
      { value: scalarAttribute(ONNX_FLOAT, 0) },
    ); // (B, E)
    const sum = g.op("ScatterND", [zeros, g.op("Unsqueeze", [bagOfLookup, axes1()]), rows], {
      reduction: { kind: "string", value: "add" },
    }); // (B, E)
    if (config.pooling === "sum") return sum;
    const ends = g.op("Concat", [g.op("Slice", [offsets, one(), int64("to_the_end", [Number.MAX_SAFE_INTEGER])]), N], {
      axis: { kind: "int", value: 0 },
    }); // (B,)
    const count = g.op("Max", [
      g.op("Cast", [g.op("Sub", [ends, offsets])], { to: { kind: "int", value: ONNX_FLOAT } }),
      float("one_float", 1),
    ]); // (B,)
    return g.op("Div", [sum, g.op("Unsqueeze", [count, axes1()])]);
  });

  // Interaction → z (B, W).
  let z: string;
  if (config.interaction === "dcn" || config.interaction === "cross") z = crossGraph(g, config, read, x, pooled);
  else if (config.interaction === "cat")
    z = F === 1 ? x : g.op("Concat", [x, ...pooled], { axis: { kind: "int", value: 1 } });
  else {
    const pairs = pairPositions(F, config.interaction_itself);
    if (pairs.length === 0) z = x;
    else {
      const T = g.op(
        "Concat",
        [x, ...pooled].map((v) => g.op("Unsqueeze", [v, axes1()])),
        { axis: { kind: "int", value: 1 } },
      ); // (B, F, E)
      const products = g.op("MatMul", [T, g.op("Transpose", [T], { perm: { kind: "ints", value: [0, 2, 1] } })]); // (B, F, F)
      const flat = g.op("Reshape", [products, int64("flat_shape", [0, F * F])]); // (B, F·F)
      const dots = g.op("Gather", [flat, int64("pair_positions", pairs)], { axis: { kind: "int", value: 1 } }); // (B, P)
      z = g.op("Concat", [x, dots], { axis: { kind: "int", value: 1 } });
    }
  }

  // Top MLP: ReLU between layers, the sigmoid after the last; pred (B,).
  let h = z;
  const top = config.top_mlp;
  top.slice(1).forEach((width, i) => {
    const w = read(`top_l.${2 * i}.weight`, [width, top[i]]);
    const b = read(`top_l.${2 * i}.bias`, [width]);
    const y = g.op("Gemm", [h, w, b], { transB: { kind: "int", value: 1 } });
    h = i === top.length - 2 ? g.op("Sigmoid", [y]) : g.op("Relu", [y]);
  });
  g.op("Squeeze", [h, axes1()], {}, "pred");

  const model = modelProto({
    irVersion: IR_VERSION,
    opset: ONNX_OPSET,
    producer: "dlrm-ts",
    producerVersion: "0.1.0",
    docString: `DLRM exported by dlrm-ts: inputs dense float (B, ${config.dense_features}); per table t ${L === null ? "indices_t int64 (N_t) and offsets_t int64 (B) (bag b = indices[offsets[b] .. offsets[b+1]), offsets[0] = 0)" : `indices_t int64 (B, ${L})`}${config.per_sample_weights ? ", weights_t float shaped like indices_t" : ""}; output pred float (B): click probabilities. See docs/serving.md.`,
    graphName: "dlrm",
    nodes: g.nodes,
    inputs,
    outputs: [{ name: "pred", elemType: ONNX_FLOAT, shape: ["batch"] }],
    initializers: g.initializers,
    metadata: {
      dlrm_config: JSON.stringify(config),
      bags: L === null ? "variable: indices_t, offsets_t" : `fixed: ${L} per bag`,
    },
  });
  if (model.length > PROTOBUF_LIMIT)
    throw new OnnxExportError(`the model would be ${model.length} bytes, past protobuf's 2 GiB limit`);

  const writeOrSay = (path: string, fill: Parameters<typeof writeFileAtomically>[1]): number => {
    try {
      return writeFileAtomically(path, fill);
    } catch (e) {
      throw new OnnxExportError(`${path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (externalPieces.length > 0) {
    writeOrSay(dataPath, (write) => {
      let at = 0;
      for (const p of externalPieces) {
        if (p.at > at) write(new Uint8Array(p.at - at)); // alignment padding
        p.source.produce(write);
        at = p.at + p.source.length;
      }
    });
  }
  const modelBytes = writeOrSay(out, (write) => model.emit(write));
  return {
    modelBytes,
    external:
      externalPieces.length === 0
        ? null
        : { path: dataPath, tables: [...external].sort((a, b) => a - b), bytes: dataBytes },
  };
}
