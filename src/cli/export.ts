// `dlrm export --checkpoint ckpt.safetensors [--model config.json] --out model.onnx`: the
// checkpoint's model as an ONNX file for ONNX Runtime (src/interop/onnx/export_onnx.ts builds it;
// docs/serving.md says how to feed it). The config is found as `dlrm predict` finds it.

import {
  getBool,
  getNumber,
  getString,
  helpText,
  parseFlags,
  positiveInt,
  requiredString,
  UsageError,
  type FlagSpecs,
  type Io,
} from "./args.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { checkOutputs } from "./paths.ts";
import { DEFAULT_EXTERNAL_OVER, exportOnnx, ONNX_OPSET } from "../interop/onnx/export_onnx.ts";

const EXPORT_FLAGS: FlagSpecs = {
  checkpoint: { type: "string", placeholder: "ckpt.safetensors", help: "parameters to export (required)" },
  model: {
    type: "string",
    placeholder: "config.json",
    help: "model config (JSON); default: the one the checkpoint records (dlrm train --save), else the built-in model",
  },
  out: {
    type: "string",
    placeholder: "model.onnx",
    help: "the ONNX file to write (required); big tables go to <out>.data beside it",
  },
  "bag-size": {
    type: "int",
    placeholder: "L",
    help: "export fixed-size bags of L lookups: inputs indices_t (B, L); default: variable bags, inputs indices_t (N_t) and offsets_t (B)",
  },
  "external-over": {
    type: "number",
    placeholder: "bytes",
    help: `tables larger than this are stored as external data in <out>.data (default ${DEFAULT_EXTERNAL_OVER}, 2 GiB)`,
  },
  help: { type: "bool", help: "show this help" },
};

export function runExport(argv: readonly string[], io: Io): number {
  const f = parseFlags("export", argv, EXPORT_FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(
      helpText(
        "Usage: dlrm export --checkpoint <ckpt> --out <model.onnx> [flags]",
        `Write the model as ONNX (opset ${ONNX_OPSET}, standard operators only) for ONNX Runtime; see docs/serving.md.`,
        EXPORT_FLAGS,
      ),
    );
    return 0;
  }
  const required = (name: string): string => requiredString("export", f, name);
  const checkpoint = required("checkpoint");
  const out = required("out");
  const model = getString(f, "model");
  checkOutputs(
    "export",
    [
      { flag: "--out", path: out },
      { flag: "its external data", path: `${out}.data` },
    ],
    [{ flag: "--checkpoint", path: checkpoint }, ...(model === undefined ? [] : [{ flag: "--model", path: model }])],
  );
  const bagSize = f.has("bag-size") ? positiveInt("export", f, "bag-size", 1) : null;
  const externalOver = getNumber(f, "external-over") ?? DEFAULT_EXTERNAL_OVER;
  if (externalOver < 0)
    throw new UsageError(`export: --external-over must be a non-negative number of bytes, got ${externalOver}`);

  const config = checkpointConfig(model, checkpoint);
  const result = exportOnnx(config, checkpoint, out, { bagSize, externalOver });
  const bags =
    bagSize === null ? "variable bags (indices_t, offsets_t)" : `fixed bags of ${bagSize} (indices_t (B, ${bagSize}))`;
  const ext =
    result.external === null
      ? ""
      : `; tables ${result.external.tables.join(", ")} (${result.external.bytes} bytes) in ${result.external.path}`;
  io.stderr.write(
    `dlrm export: wrote ${out} (${result.modelBytes} bytes, opset ${ONNX_OPSET}, ${config.table_sizes.length} tables, ${bags})${ext}\n`,
  );
  return 0;
}
