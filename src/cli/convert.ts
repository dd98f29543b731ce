// `dlrm convert <in> <out> --to reference|torchrec [--dtype f32|f16|bf16]`: a checkpoint under
// the reference's state_dict names (ours) to TorchRec's DLRM names and back
// (src/interop/torchrec.ts: the renaming and the move of the first top layer's pair columns),
// or to the same names in another dtype.
//
// The file is streamed: each tensor is read by positional reads in bounded chunks and written
// at its place in the new file (src/dlrm/checkpoint.ts), so a model of any size converts in
// little memory; only the first top layer's weight, which is small, is held whole to be
// permuted. Values go through float32, which is exact for F32, F16 and BF16 (a tensor keeps
// its dtype unless --dtype is given): converting there and back gives the same bits.
// Optimizer state and the run position go with the reference names only (TorchRec keeps its
// optimizer state elsewhere): converting to TorchRec drops them, and says so.
// Either file may be safetensors or a PyTorch .pt/.pth (src/dlrm/checkpoint_format.ts, by
// extension): a .pt is read as the reference's --save-model dict or a bare state_dict, and
// written as that dict. A .pt keeps optimizer state only with the run that names its optimizer
// (dlrm_run, which a file of the reference's own lacks): without one the state is dropped, and
// the note says so.

import { closeSync, openSync } from "node:fs";
import { getBool, getNumber, getString, helpText, oneOf, parseArgs, UsageError, type FlagSpecs } from "./args.ts";
import type { Io } from "./args.ts";
import {
  checkCheckpoint,
  readPiece,
  writeCheckpointFile,
  writeSlices,
  type CheckpointTensor,
} from "../dlrm/checkpoint.ts";
import { checkpointFormat, readCheckpointIndex } from "../interop/checkpoint_file.ts";
import { ptFormat } from "../interop/torch/checkpoint_pt.ts";
import { readRunState } from "../dlrm/checkpoint.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { readConfig } from "../dlrm/config_file.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { convertQuantized } from "./convert_quantized.ts";
import { checkOutputs } from "./paths.ts";
import { parameterSpecs } from "../dlrm/init.ts";
import {
  defaultTableNames,
  isTorchrecName,
  permuteTopColumns,
  TORCHREC_TABLE_PREFIX,
  torchrecFirstTopWeight,
  torchrecNamePairs,
  torchrecTableOrder,
} from "../interop/torchrec.ts";
import type { SaveDType } from "../io/dtype.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import { interactionWidth } from "../ops/interaction.ts";
import { isStateTensorName, STATE_KEYS, type StateKey } from "../optim/make.ts";

const CONVERT_FLAGS: FlagSpecs = {
  to: {
    type: "string",
    placeholder: "reference|torchrec",
    help: "the names to write: the reference's (bot_l, top_l, emb_l; ours) or TorchRec's DLRM's (DLRM_DCN's for --interaction dcn) (required)",
  },
  dtype: {
    type: "string",
    placeholder: "f32|f16|bf16",
    help: "dtype of the written parameters (default: each tensor's own); f16/bf16 round to nearest, ties to even",
  },
  model: {
    type: "string",
    placeholder: "config.json",
    help: "the model of a reference-named input, when its shapes are ambiguous (default: the config it records, else the one its shapes give)",
  },
  "quantize-emb-with-bit": {
    type: "int",
    help: "write the tables as fbgemm's row-wise quantized rows, 8 or 4 bits per value (U8 tensors; for dlrm predict); instead of --to",
  },
  "table-names": {
    type: "string",
    placeholder: "a,b,…",
    help: "TorchRec's table names, in the order of the model's features: the names to give (default t_cat_0, t_cat_1, …), or, reading a TorchRec file, the order of its tables (default: by their trailing number)",
  },
  help: { type: "bool", help: "show this help" },
};

const USAGE =
  "Usage: dlrm convert <in.(safetensors|pt)> <out.(safetensors|pt)> --to reference|torchrec [flags]\n" +
  "       dlrm convert <in> <out> --quantize-emb-with-bit 8|4";
const ABOUT =
  "Rename a DLRM checkpoint between the reference's state_dict names and TorchRec's (moving the first top layer's interaction columns " +
  "to the other pair order), or rewrite it in another dtype. TorchRec's DLRM outputs logits: apply a sigmoid for the reference's probabilities.";

type Names = "reference" | "torchrec";

/** One tensor of the output: where its values come from, and whether its columns move. */
interface Copy {
  out: CheckpointTensor;
  src: string;
  permute: { rows: number; E: number; F: number; to: Names } | null;
}

interface Conversion {
  copies: Copy[];
  metadata: Record<string, string>;
  notes: string[];
}

export async function runConvert(argv: readonly string[], io: Io): Promise<number> {
  const { flags: f, args } = parseArgs("convert", argv, CONVERT_FLAGS, true);
  if (getBool(f, "help")) {
    io.stdout.write(helpText(USAGE, ABOUT, CONVERT_FLAGS));
    return 0;
  }
  if (args.length !== 2) throw new UsageError(`convert: give the input and the output file (${USAGE})`);
  const [input, output] = args as [string, string];
  const modelPath = getString(f, "model");
  checkOutputs(
    "convert",
    [{ flag: "<out>", path: output }],
    [{ flag: "<in>", path: input }, ...(modelPath === undefined ? [] : [{ flag: "--model", path: modelPath }])],
  );
  if (f.has("quantize-emb-with-bit")) {
    for (const other of ["to", "dtype", "table-names"])
      if (f.has(other))
        throw new UsageError(`convert: --quantize-emb-with-bit writes reference names; leave out --${other}`);
    return convertQuantized(input, output, modelPath, getNumber(f, "quantize-emb-with-bit") as number, io);
  }
  if (!f.has("to")) throw new UsageError("convert: --to reference|torchrec is required");
  const to = oneOf("convert", f, "to", ["reference", "torchrec"] as const, "reference");
  const dtype = f.has("dtype")
    ? (oneOf("convert", f, "dtype", ["f32", "f16", "bf16"] as const, "f32").toUpperCase() as SaveDType)
    : null;
  const tableText = getString(f, "table-names");
  const tableNames = tableText === undefined ? null : tableText.split(",");
  if (tableNames !== null && tableNames.some((n) => n === ""))
    throw new UsageError(`convert: --table-names has an empty name in "${tableText}"`);

  const index = readCheckpointIndex(input);
  const from: Names = [...index.entries.keys()].some((n) => isTorchrecName(n.replace(/^model\./, "")))
    ? "torchrec"
    : "reference";
  if (modelPath !== undefined && from === "torchrec")
    throw new UsageError(
      "convert: --model describes a reference-named input; a TorchRec file's model is read from its shapes",
    );
  const plan =
    from === "reference"
      ? fromReference(index, to, checkpointConfig(modelPath, input), tableNames, dtype)
      : fromTorchrec(index, to, tableNames, dtype);
  const state = plan.copies.filter((c) => c.out.key !== null);
  if (checkpointFormat(output) === ptFormat && state.length > 0 && readRunState(input, plan.metadata) === null) {
    plan.copies = plan.copies.filter((c) => c.out.key === null);
    plan.notes.push(
      `the ${state.length} optimizer state tensors are not carried over: a .pt names its optimizer from the run (dlrm_run), which ${input} does not record`,
    );
  }
  await writeConversion(index, output, plan);
  io.stderr.write(
    `dlrm convert: ${input} (${from} names) -> ${output} (${to} names, ${plan.copies.length} tensors)${plan.notes.map((n) => `; ${n}`).join("")}\n`,
  );
  return 0;
}

/** The dtype a tensor is written in: --dtype for parameters, else its own (F64 becomes F32); optimizer state stays F32. */
function outDType(index: SafetensorsIndex, name: string, isParameter: boolean, dtype: SaveDType | null): SaveDType {
  if (isParameter && dtype !== null) return dtype;
  const own = index.entries.get(name)?.dtype;
  return isParameter && (own === "F16" || own === "BF16") ? own : "F32";
}

function copyOf(
  index: SafetensorsIndex,
  src: string,
  outName: string,
  isParameter: boolean,
  dtype: SaveDType | null,
): Copy {
  const e = index.entries.get(src);
  if (e === undefined) throw new Error(`${index.path}: no tensor "${src}"`);
  // optimizer.state.<parameter>.<key>: a .pt puts it in the optimizer's state of its parameter
  const m = isParameter ? null : new RegExp(`^optimizer\\.state\\.(.+)\\.(${STATE_KEYS.join("|")})$`).exec(outName);
  return {
    out: {
      name: outName,
      shape: e.shape,
      param: m === null ? outName : m[1],
      key: m === null ? null : (m[2] as StateKey),
      dtype: outDType(index, src, isParameter, dtype),
    },
    src,
    permute: null,
  };
}

function fromReference(
  index: SafetensorsIndex,
  to: Names,
  config: DLRMConfig,
  tableNames: readonly string[] | null,
  dtype: SaveDType | null,
): Conversion {
  checkCheckpoint(index, config); // every parameter present, with its shape
  const params = parameterSpecs(config);
  const known = new Set(params.map((p) => p.name));
  const state = [...index.entries.keys()].filter(isStateTensorName);
  for (const name of index.entries.keys()) {
    if (!known.has(name) && !isStateTensorName(name))
      throw new Error(
        `${index.path}: tensor "${name}" is not a parameter of the model (${params.length} parameters: bot_l, ${config.interaction === "dcn" || config.interaction === "cross" ? "inter_arch, " : ""}top_l, emb_l${config.weighted_pooling === "learned" ? ", v_W_l" : ""})`,
      );
  }
  if (to === "reference") {
    const copies = [
      ...params.map((p) => copyOf(index, p.name, p.name, true, dtype)),
      ...state.map((s) => copyOf(index, s, s, false, dtype)),
    ];
    return { copies, metadata: { ...index.metadata }, notes: dtype === null ? [] : [`parameters as ${dtype}`] };
  }
  const F = config.table_sizes.length;
  const k = config.top_mlp.length - 1;
  const dcn = config.interaction === "dcn";
  if ((config.interaction !== "dot" && !dcn) || config.interaction_itself) {
    throw new Error(
      `${index.path}: TorchRec's DLRM has the dot interaction without self-interaction, and DLRM_DCN the dcn one; this model uses ${config.interaction_itself ? "dot with self-interaction" : config.interaction}`,
    );
  }
  if (k < 2) throw new Error(`${index.path}: TorchRec's OverArch needs at least two layers; this top MLP has ${k}`);
  if (config.weighted_pooling === "learned")
    throw new Error(
      `${index.path}: TorchRec's DLRM has no learned per-row pooling weights; this model has them (v_W_l.0 … v_W_l.${F - 1}, the reference's --weighted-pooling learned)`,
    );
  if (F === 0) throw new Error(`${index.path}: TorchRec's DLRM needs at least one table; this model has none`);
  const names = tableNames ?? defaultTableNames(F);
  if (names.length !== F || new Set(names).size !== F)
    throw new UsageError(
      `convert: --table-names needs ${F} different names (the model has ${F} tables), got ${names.length}${new Set(names).size !== names.length ? " with repeats" : ""}`,
    );
  const crossLayers = dcn ? (config.dcn_num_layers as number) : 0;
  const copies = torchrecNamePairs(config.bottom_mlp.length - 1, k, names, crossLayers).map(([ref, tr]): Copy => {
    const c = copyOf(index, ref, tr, true, dtype);
    return ref === "top_l.0.weight" && !dcn
      ? { ...c, permute: { rows: config.top_mlp[1], E: config.embedding_dim, F, to: "torchrec" } }
      : c;
  });
  const metadata = { ...index.metadata };
  delete metadata["dlrm_run"]; // it describes optimizer state that is not carried over
  const notes = [`tables ${names.join(", ")}`, `TorchRec's ${dcn ? "DLRM_DCN" : "DLRM"} outputs logits (no sigmoid)`];
  if (state.length > 0)
    notes.push(`the ${state.length} optimizer state tensors and the run position are not carried over`);
  if (config.pooling === "mean")
    notes.push("the tables pool by mean: give their EmbeddingBagConfigs pooling=PoolingType.MEAN");
  return { copies, metadata, notes };
}

function fromTorchrec(
  index: SafetensorsIndex,
  to: Names,
  tableOrder: readonly string[] | null,
  dtype: SaveDType | null,
): Conversion {
  const all = [...index.entries.keys()];
  // DLRMTrain (TorchRec's training wrapper) holds the DLRM as `model`: its names start with "model.".
  const prefix = all.every((n) => n.startsWith("model.")) ? "model." : "";
  const names = all.map((n) => n.slice(prefix.length));
  for (const n of names) {
    if (!isTorchrecName(n) && !n.startsWith("inter_arch.crossnet."))
      throw new Error(
        `${index.path}: tensor "${prefix}${n}" is not a TorchRec DLRM name (${prefix}sparse_arch., ${prefix}dense_arch., ${prefix}inter_arch.crossnet., ${prefix}over_arch.) while others are`,
      );
  }
  const has = (n: string): boolean => index.entries.has(prefix + n);
  const tables = names
    .filter((n) => n.startsWith(TORCHREC_TABLE_PREFIX) && n.endsWith(".weight"))
    .map((n) => n.slice(TORCHREC_TABLE_PREFIX.length, -".weight".length));
  const order = torchrecTableOrder(tables, tableOrder, index.path);
  const count = (name: (i: number) => string): number => {
    let i = 0;
    while (has(name(i))) i++;
    return i;
  };
  const bottomLayers = count((i) => `dense_arch.model._mlp.${i}._linear.weight`);
  const topLayers =
    count((i) => `over_arch.model.0._mlp.${i}._linear.weight`) + (has("over_arch.model.1.weight") ? 1 : 0);
  const crossLayers = count((l) => `inter_arch.crossnet.W_kernels.${l}`); // DLRM_DCN's, else 0
  const pairs = torchrecNamePairs(bottomLayers, topLayers, order, crossLayers);
  const expected = new Set(pairs.map(([, tr]) => tr));
  for (const n of names)
    if (!expected.has(n))
      throw new Error(
        `${index.path}: unexpected tensor "${prefix}${n}" for a TorchRec DLRM${crossLayers > 0 ? `_DCN of ${crossLayers} cross layers,` : " of"} ${bottomLayers} dense and ${topLayers} over layers and ${order.length} tables`,
      );
  for (const [, tr] of pairs) if (!has(tr)) throw new Error(`${index.path}: missing tensor "${prefix}${tr}"`);
  if (bottomLayers === 0 || topLayers < 2 || order.length === 0)
    throw new Error(
      `${index.path}: not a TorchRec DLRM: ${bottomLayers} dense layers, ${topLayers} over layers, ${order.length} tables`,
    );

  const E = index.entries.get(`${prefix}${TORCHREC_TABLE_PREFIX}${order[0]}.weight`)?.shape[1] as number;
  const first = index.entries.get(prefix + torchrecFirstTopWeight(topLayers))?.shape as number[];
  const dcn = crossLayers > 0;
  const W = dcn ? (order.length + 1) * E : interactionWidth(E, order.length, "dot", false);
  if (first.length !== 2 || first[1] !== W) {
    throw new Error(
      `${index.path}: ${prefix}${torchrecFirstTopWeight(topLayers)} has shape (${first.join(", ")}) but TorchRec's ${dcn ? "DCN " : ""}interaction of ${order.length} tables of dim ${E} gives ${W} columns`,
    );
  }
  if (to === "torchrec") {
    return {
      copies: all.map((n) => copyOf(index, n, n, true, dtype)),
      metadata: { ...index.metadata },
      notes: dtype === null ? [] : [`parameters as ${dtype}`],
    };
  }
  // The reference's state_dict order: bottom, interaction, top, tables (parameterSpecs).
  const rank = (ref: string): number =>
    ["bot_l.", "inter_arch.", "top_l.", "emb_l."].findIndex((prefix) => ref.startsWith(prefix));
  const copies = [...pairs]
    .sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([ref, tr]): Copy => {
      const c = copyOf(index, prefix + tr, ref, true, dtype);
      return ref === "top_l.0.weight" && !dcn
        ? { ...c, permute: { rows: first[0], E, F: order.length, to: "reference" } }
        : c;
    });
  return {
    copies,
    metadata: { ...index.metadata },
    notes: [
      `tables ${order.join(", ")} as emb_l.0 … emb_l.${order.length - 1}`,
      "the reference applies a sigmoid after the last layer",
    ],
  };
}

/** Elements read and written at a time. */
const COPY_CHUNK = 1 << 20;

async function writeConversion(index: SafetensorsIndex, output: string, plan: Conversion): Promise<void> {
  await writeCheckpointFile(
    output,
    plan.copies.map((c) => c.out),
    plan.metadata,
    (tmp, slots) => {
      const src = openSync(index.path, "r");
      const dst = openSync(tmp, "r+");
      try {
        for (const c of plan.copies) {
          const n = c.out.shape.reduce((a, b) => a * b, 1);
          if (c.permute !== null) {
            const whole = new Float32Array(n);
            readPiece(index, c.src, 0, whole, src);
            const p = c.permute;
            writeSlices(
              dst,
              slots,
              [{ name: c.out.name, first: 0, data: permuteTopColumns(whole, p.rows, p.E, p.F, p.to) }],
              output,
            );
            continue;
          }
          const buf = new Float32Array(Math.min(COPY_CHUNK, n));
          for (let first = 0; first < n; first += COPY_CHUNK) {
            const part = buf.subarray(0, Math.min(COPY_CHUNK, n - first));
            readPiece(index, c.src, first, part, src);
            writeSlices(dst, slots, [{ name: c.out.name, first, data: part }], output);
          }
        }
      } finally {
        closeSync(src);
        closeSync(dst);
      }
    },
    checkpointFormat(output),
  );
}
