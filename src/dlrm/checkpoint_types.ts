// The types a checkpoint's writers and readers share (checkpoint.ts, and the two formats in
// checkpoint_format.ts and src/interop/torch/checkpoint_pt.ts): kept apart so that the formats need not import
// checkpoint.ts, which imports them.

import type { SaveDType } from "../io/dtype.ts";
import type { OptimizerSpec, StateKey } from "../optim/make.ts";
import type { LRPolicyOptions } from "../optim/schedule.ts";
import type { RngState } from "../tensor/rng.ts";

/** A tensor of a checkpoint: a parameter, or one of its optimizer state tensors. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  /** The parameter it belongs to, and (state tensors) its key. */
  param: string;
  key: StateKey | null;
  /** Its dtype in the file. */
  dtype: SaveDType;
}

/** Where a run stands, as the dlrm_run metadata records it. */
export interface RunState {
  seed: number;
  /** Steps done. */
  step: number;
  /** Steps the run was started for (a resumed run goes on to these unless given others). */
  plannedSteps: number;
  /** The data-order generator at the start of the current epoch (null without shuffling). */
  orderRng: RngState | null;
  batchSize: number;
  shuffle: boolean;
  optimizer: OptimizerSpec;
  schedule: LRPolicyOptions | null;
  /** The run was stopped by an interruption before its planned steps. */
  interrupted: boolean;
  /** The command-line flags that define the run (dlrm train records them; a resumed run reuses them). */
  flags: Record<string, string | number | boolean>;
}
