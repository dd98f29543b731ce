// The model config a verb that reads a checkpoint uses (dlrm predict, dlrm export): the
// --model file when given, else the config a `dlrm train --save` checkpoint records in its
// dlrm_config metadata, else the built-in default model.

import { UsageError } from "./args.ts";
import { readSafetensorsMetadata } from "./metadata.ts";
import { parseConfig, readConfig, type DLRMConfig } from "../dlrm/config.ts";
import { defaultConfig } from "../dlrm/defaults.ts";

export function checkpointConfig(verb: string, modelPath: string | undefined, checkpoint: string): DLRMConfig {
  if (modelPath !== undefined) return readConfig(modelPath);
  const recorded = readSafetensorsMetadata(checkpoint)["dlrm_config"];
  if (recorded === undefined) return defaultConfig();
  let json: unknown;
  try {
    json = JSON.parse(recorded);
  } catch {
    throw new UsageError(`${verb}: ${checkpoint}: its dlrm_config metadata is not JSON; give --model`);
  }
  return parseConfig(json, `${checkpoint} (dlrm_config metadata)`);
}
