// `dlrm convert <in> <out> --quantize-emb-with-bit 8|4`: a float32 checkpoint (reference
// names) to one whose tables are fbgemm's fused row-wise quantized rows, U8 [R, row bytes]
// under the same names, the rest F32 (src/interop/quantized/quantized.ts describes the file;
// docs/checkpoints.md too). `dlrm predict --checkpoint <out>` reads it. The model is loaded
// whole (the quantizer works row by row, but a checkpoint this size fits in memory to
// predict with anyway); optimizer state is not carried over (the file is for inference), the
// metadata is (the run's record tells `dlrm predict --data synthetic` its seed and size).
//
// Glossary: R rows of a table.

import { UsageError, type Io } from "./args.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { loadCheckpoint, openCheckpoint } from "../dlrm/checkpoint.ts";
import { checkpointFormat } from "../interop/checkpoint_file.ts";
import { DLRM } from "../dlrm/model.ts";
import { floatTableBytes, QuantizedDLRM, quantBits, quantizedCheckpointBits } from "../interop/quantized/quantized.ts";
import { formatBytes } from "../kernels/memory.ts";
import { writeSafetensors } from "../io/safetensors.ts";

/** Quantize the tables of `input` to `bitsValue` bits into `output`; returns the exit code. */
export function convertQuantized(
  input: string,
  output: string,
  modelPath: string | undefined,
  bitsValue: number,
  io: Io,
): number {
  let bits;
  try {
    bits = quantBits(bitsValue, "convert");
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (bits === null)
    throw new UsageError("convert: --quantize-emb-with-bit 32 is float32: there is nothing to quantize");
  if (/\.pth?$/.test(output))
    throw new UsageError(
      `convert: --quantize-emb-with-bit writes safetensors (U8 tables), not ${output}; name it .safetensors`,
    );
  const stored = quantizedCheckpointBits(input);
  if (stored !== null) throw new UsageError(`convert: ${input} already holds int${stored} tables`);
  const config = checkpointConfig(modelPath, input);
  openCheckpoint(input, config, null, checkpointFormat(input));
  const model = new DLRM(config, 0);
  const metadata = loadCheckpoint(input, model, null, null, checkpointFormat(input)); // kept: the run's record (seed, data) says what the model was trained on
  const q = QuantizedDLRM.fromModel(model, bits);
  writeSafetensors(output, new Map(q.checkpointTensors()), { ...metadata, ...q.checkpointMetadata() });
  const floatBytes = floatTableBytes(model);
  io.stderr.write(
    `dlrm convert: ${input} -> ${output} (tables as int${bits}, fbgemm row-wise: ${formatBytes(q.tableBytes())}, float32 ${formatBytes(floatBytes)}, ${(floatBytes / q.tableBytes()).toFixed(2)}× smaller; optimizer state not carried over)\n`,
  );
  return 0;
}
