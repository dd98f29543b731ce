// The model config a verb that reads a checkpoint uses (dlrm predict, dlrm export): the
// --model file when given, else the config a `dlrm train --save` checkpoint records in its
// dlrm_config metadata, else the one its tensor shapes give (src/dlrm/infer_config.ts).

import type { DLRMConfig } from "../dlrm/config.ts";
import { readConfig } from "../dlrm/config_file.ts";
import { checkpointConfig as recordedOrInferred } from "../dlrm/infer_config.ts";
import { readCheckpointIndex } from "../interop/checkpoint_file.ts";

export function checkpointConfig(modelPath: string | undefined, checkpoint: string): DLRMConfig {
  return modelPath !== undefined ? readConfig(modelPath) : recordedOrInferred(readCheckpointIndex(checkpoint));
}
