// Checkpoints as PyTorch .pt files, in the shape of the dict the reference writes with
// --save-model (facebookresearch/dlrm, dlrm_s_pytorch.py) and reads with --load-model:
//
//   { "state_dict": OrderedDict(name -> tensor), "opt_state_dict": optimizer.state_dict(),
//     "epoch", "iter", "nepochs", "nbatches", "nbatches_test": int,
//     "train_loss", "total_loss", "test_acc": float, ["test_auc"], "dlrm_ts": {str: str} }
//
// Reading indexes any torch.save file of that dict (or of a bare state_dict) the way a
// safetensors header is indexed (src/io/safetensors.ts SafetensorsIndex): each parameter by
// name with the absolute byte range of its elements, and the optimizer's state as
// optimizer.state.<parameter>.<sum|momentum> (src/optim/make.ts); the counters become metadata
// (reference_iter, …) and the "dlrm_ts" strings (our dlrm_config and dlrm_run) metadata as
// they are. In an optimizer's state_dict parameters are numbered in the order of
// model.parameters(), which for DLRM_Net is the order of its state_dict.
//
// Writing lays out such a dict for our tensors: parameters in DLRM_Net's order (tables, then
// bottom and top MLP), the optimizer state as torch.optim.Adagrad or the reference's RWSAdagrad
// keep it, Python ints and floats for the counters.

import type { CheckpointTensor, RunState } from "../../dlrm/checkpoint_types.ts";
import { isTableParameter } from "../../dlrm/tables/layout.ts";
import { OutDict, OutFloat, OutTuple, type OutValue, PyDict, describe, type PyValue } from "./pickle.ts";
import type { SafetensorsEntry, SafetensorsIndex } from "../../io/safetensors.ts";
import { layoutTorchSave, outTensorF32, readTorchSave, TorchTensor, type OutStorage } from "./torch_save.ts";
import { finishZip, type ZipLayout } from "./zip.ts";
import { writeAllAt, type CheckpointFormat } from "../../dlrm/checkpoint_format.ts";
import { STATE_KEYS, stateTensorName, type OptimizerSpec, type StateKey } from "../../optim/make.ts";

/** The reference's counters, read into metadata as reference_<key>. */
const COUNTERS = [
  "epoch",
  "iter",
  "nepochs",
  "nbatches",
  "nbatches_test",
  "train_loss",
  "total_loss",
  "test_acc",
  "test_auc",
  "train_acc",
] as const;

/** The key of our own metadata strings in the dict. */
const OWN_METADATA = "dlrm_ts";

function strKeyed(d: PyDict, what: string): Map<string, PyValue> {
  for (const k of d.map.keys())
    if (typeof k !== "string") throw new Error(`${what} has the key ${String(k)}, not a str`);
  return d.map as Map<string, PyValue>;
}

/** The checkpoint index of a .pt file: parameters, optimizer state, metadata. */
export function readPtIndex(path: string): SafetensorsIndex {
  const { root, fileBytes } = readTorchSave(path);
  if (!(root instanceof PyDict))
    throw new Error(`${path}: holds ${describe(root)}, not a state_dict or the reference's --save-model dict`);
  const top = strKeyed(root, `${path}: the saved dict`);
  const saved = top.get("state_dict");
  const stateDict = saved === undefined ? root : saved;
  if (!(stateDict instanceof PyDict))
    throw new Error(`${path}: "state_dict" is ${describe(stateDict)}, not a dict of tensors`);
  const entries = new Map<string, SafetensorsEntry>();
  const add = (name: string, t: PyValue): void => {
    if (!(t instanceof TorchTensor)) throw new Error(`${path}: "${name}" is ${describe(t)}, not a tensor`);
    entries.set(name, { name, dtype: t.dtype, shape: t.shape, begin: t.begin, end: t.end });
  };
  const params = [...strKeyed(stateDict, `${path}: the state_dict`)];
  for (const [name, t] of params) add(name, t);
  const metadata: Record<string, string> = {};
  if (saved !== undefined) {
    for (const key of COUNTERS) {
      const v = top.get(key);
      if (typeof v === "number") metadata[`reference_${key}`] = String(v);
    }
    const own = top.get(OWN_METADATA);
    if (own instanceof PyDict) {
      for (const [k, v] of strKeyed(own, `${path}: "${OWN_METADATA}"`)) {
        if (typeof v !== "string") throw new Error(`${path}: "${OWN_METADATA}"."${k}" is ${describe(v)}, not a str`);
        metadata[k] = v;
      }
    }
    const opt = top.get("opt_state_dict");
    if (opt !== undefined)
      readOptimizerState(
        path,
        opt,
        params.map(([n]) => n),
        add,
        metadata,
      );
  }
  return { path, fileBytes, dataStart: 0, entries, metadata };
}

/** optimizer.state_dict(): {"state": {id: {key: value}}, "param_groups": [{..., "params": [id]}]}, ids in parameter order. */
function readOptimizerState(
  path: string,
  opt: PyValue,
  names: readonly string[],
  add: (name: string, t: PyValue) => void,
  metadata: Record<string, string>,
): void {
  const where = `${path}: opt_state_dict`;
  if (!(opt instanceof PyDict)) throw new Error(`${where} is ${describe(opt)}, not an optimizer state_dict`);
  const state = opt.map.get("state");
  const groups = opt.map.get("param_groups");
  if (!(state instanceof PyDict) || !Array.isArray(groups))
    throw new Error(`${where} has no "state" dict and "param_groups" list`);
  const ids: number[] = [];
  const hyper: Record<string, unknown>[] = [];
  for (const g of groups) {
    if (!(g instanceof PyDict)) throw new Error(`${where}: a param group is ${describe(g)}, not a dict`);
    const h: Record<string, unknown> = {};
    for (const [k, v] of g.map) {
      if (k === "params") {
        if (!Array.isArray(v)) throw new Error(`${where}: "params" is ${describe(v)}, not a list`);
        for (const id of v) ids.push(typeof id === "number" ? id : NaN);
      } else if (v === null || typeof v === "number" || typeof v === "boolean" || typeof v === "string")
        h[String(k)] = v;
    }
    hyper.push(h);
  }
  if (ids.length !== names.length)
    throw new Error(`${where}: its param groups list ${ids.length} parameters but the state_dict has ${names.length}`);
  const nameOf = new Map(ids.map((id, i) => [id, names[i]]));
  for (const [id, s] of state.map) {
    const name = nameOf.get(id as number);
    if (name === undefined) throw new Error(`${where}: state of parameter ${String(id)}, which no param group lists`);
    if (!(s instanceof PyDict))
      throw new Error(`${where}: state of parameter ${String(id)} is ${describe(s)}, not a dict`);
    for (const [key, v] of s.map) {
      if (key === "step") continue; // our optimizers count no steps of their own
      if (!(STATE_KEYS as readonly unknown[]).includes(key))
        throw new Error(
          `${where}: state "${String(key)}" of "${name}" has no counterpart here (only ${STATE_KEYS.map((k) => `"${k}"`).join(", ")}: src/optim/make.ts)`,
        );
      add(stateTensorName(name, key as StateKey), v);
    }
  }
  metadata["reference_optimizer"] = JSON.stringify(hyper.length === 1 ? hyper[0] : hyper);
}

// ---------------------------------------------------------------------------------------
// Writing

/** The file layout: bytes to write now, each tensor's offset, and the layout finishZip completes. */
export interface PtLayout {
  zip: ZipLayout;
  offsets: Map<string, number>;
}

/**
 * The optimizer's param groups for spec over these parameters (in state_dict order), with
 * torch's hyperparameter names: one group, as the reference makes, unless the weight decay
 * differs between parameters (the built-in models decay tables apart); then one group per run
 * of consecutive parameters with the same decay, so that the numbering still follows the
 * state_dict (the reference's --load-model then refuses the optimizer state: its optimizer has
 * one group; --inference-only reads the file).
 */
function optimizerGroups(spec: OptimizerSpec, names: readonly string[]): OutDict[] {
  const decayOf = (name: string): number => (spec.kind === "adagrad" ? (spec.weightDecay[name] ?? 0) : 0);
  const group = (decay: number, ids: number[]): OutDict => {
    const hyper: [string, OutValue][] =
      spec.kind === "adam"
        ? [
            ["betas", new OutTuple([new OutFloat(spec.beta1), new OutFloat(spec.beta2)])],
            ["eps", new OutFloat(spec.eps)],
            ["weight_decay", 0],
            ["amsgrad", false],
            ["maximize", false],
            ["foreach", null],
            ["capturable", false],
          ]
        : spec.kind === "sgd"
          ? [
              ["momentum", 0],
              ["dampening", 0],
              ["weight_decay", 0],
              ["nesterov", false],
              ["maximize", false],
              ["foreach", null],
            ]
          : [
              ["lr_decay", 0],
              ["eps", new OutFloat(spec.eps)],
              ["weight_decay", new OutFloat(decay)],
              ["initial_accumulator_value", new OutFloat(spec.kind === "adagrad" ? spec.initialAccumulator : 0)],
              ...(spec.kind === "adagrad"
                ? ([
                    ["foreach", null],
                    ["maximize", false],
                  ] as [string, OutValue][])
                : []),
            ];
    return new OutDict([["lr", new OutFloat(spec.lr)], ...hyper, ["params", ids]]);
  };
  const groups: OutDict[] = [];
  let start = 0;
  for (let i = 1; i <= names.length; i++) {
    if (i === names.length || decayOf(names[i]) !== decayOf(names[start])) {
      groups.push(
        group(
          decayOf(names[start]),
          Array.from({ length: i - start }, (_, k) => start + k),
        ),
      );
      start = i;
    }
  }
  return groups;
}

/** A metric of our metadata as a number (absent: otherwise). */
function metric(metadata: Record<string, string>, key: string, otherwise: number): number {
  const v = metadata[key];
  return v === undefined ? otherwise : Number(v);
}

/** A float32 scalar's little-endian bytes. */
function f32Bytes(x: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return b;
}

/**
 * Lay out a .pt checkpoint of these tensors (parameters and, when run says which optimizer,
 * its state). Without a run the file holds no opt_state_dict: the reference loads it with
 * --inference-only.
 */
export function layoutPt(
  tensors: readonly CheckpointTensor[],
  metadata: Record<string, string>,
  run: RunState | null,
  o: { forceZip64?: boolean } = {},
): PtLayout {
  const params = tensors.filter((t) => t.key === null);
  // DLRM_Net registers emb_l before bot_l and top_l: its state_dict and parameters() order
  const ordered = [
    ...params.filter((t) => isTableParameter(t.name)),
    ...params.filter((t) => !isTableParameter(t.name)),
  ];
  const storages: OutStorage[] = [];
  const keyOf = new Map<string, string>();
  const tensor = (name: string, shape: readonly number[]): OutValue => {
    const key = String(storages.length);
    storages.push({ key, bytes: 4 * shape.reduce((a, b) => a * b, 1) });
    keyOf.set(name, key);
    return outTensorF32(key, shape);
  };
  const scalar = (x: number): OutValue => {
    const key = String(storages.length);
    storages.push({ key, bytes: 4, data: f32Bytes(x) });
    return outTensorF32(key, []);
  };
  const entries: [string, OutValue][] = [
    [
      "state_dict",
      new OutDict(
        ordered.map((t) => [t.name, tensor(t.name, t.shape)]),
        true,
      ),
    ],
  ];
  if (run !== null) {
    const state: [number, OutValue][] = [];
    ordered.forEach((p, i) => {
      const kept = tensors.filter((t) => t.param === p.name && t.key !== null);
      if (kept.length === 0) return;
      // torch.optim.Adagrad and Adam count steps in a float32 tensor; the reference's RWSAdagrad in an int
      const step = run.optimizer.kind === "adagrad" || run.optimizer.kind === "adam" ? scalar(run.step) : run.step;
      state.push([
        i,
        new OutDict([
          ["step", step],
          ...kept.map((t): [string, OutValue] => [t.key as string, tensor(t.name, t.shape)]),
        ]),
      ]);
    });
    entries.push([
      "opt_state_dict",
      new OutDict([
        ["state", new OutDict(state)],
        [
          "param_groups",
          optimizerGroups(
            run.optimizer,
            ordered.map((t) => t.name),
          ),
        ],
      ]),
    ]);
  }
  const unknown = tensors.filter((t) => t.key !== null && !keyOf.has(t.name));
  if (unknown.length > 0)
    throw new Error(`layoutPt: optimizer state "${unknown[0].name}" without a run that names its optimizer`);
  const step = run?.step ?? 0;
  entries.push(
    ["epoch", 0],
    ["iter", step],
    ["nepochs", 1],
    ["nbatches", run?.plannedSteps ?? step],
    ["nbatches_test", 0],
    // the metrics dlrm train records; without them a training loss of NaN (printed "nan") and a
    // test accuracy of 0, the reference's starting best, so its next evaluation saves again
    ["train_loss", new OutFloat(metric(metadata, "train_loss", Number.NaN))],
    ["total_loss", new OutFloat(0)],
    ["test_acc", new OutFloat(metric(metadata, "test_accuracy", 0))],
    [OWN_METADATA, new OutDict(Object.entries(metadata).filter(([, v]) => typeof v === "string"))],
  );
  const { zip, offsets } = layoutTorchSave(new OutDict(entries), storages, o);
  return { zip, offsets: new Map([...keyOf].map(([name, key]) => [name, offsets.get(key) as number])) };
}

/** The .pt checkpoint format (CheckpointFormat), written in F32 (--save-dtype applies to safetensors). */
export const ptFormat: CheckpointFormat = {
  name: ".pt",
  readIndex: readPtIndex,
  layout(path, tensors, metadata, run) {
    const narrow = tensors.find((t) => t.dtype !== "F32");
    if (narrow !== undefined)
      throw new Error(
        `${path}: a .pt checkpoint is written in F32; ${narrow.name} would be ${narrow.dtype} (--save-dtype applies to .safetensors)`,
      );
    let pt;
    try {
      pt = layoutPt(tensors, metadata, run);
    } catch (e) {
      throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const zip = pt.zip;
    return {
      chunks: zip.chunks,
      offsets: pt.offsets,
      finish: (fd) => finishZip(fd, zip, (bytes, at) => writeAllAt(fd, bytes, at)),
    };
  },
};
