// How `dlrm train --help` groups its flags: by what they set, so that 40-odd flags can be read.
// A flag in no group is listed under "Other" (test/cli/help.test.ts keeps that list empty).

import type { HelpGroups } from "./args.ts";
import { INTERACTION_FLAG_NAMES } from "./interaction_flags.ts";
import { TABLE_TRICK_FLAGS } from "./reference_flags.ts";

export const TRAIN_HELP_GROUPS: HelpGroups = [
  ["Model", ["model", "init", "ensemble", ...INTERACTION_FLAG_NAMES]],
  [
    "Data",
    [
      "data",
      "eval-data",
      "split",
      "max-ind-range",
      "data-sub-sample-rate",
      "on-bad-line",
      "data-size",
      "num-indices-per-lookup",
      "num-indices-per-lookup-fixed",
    ],
  ],
  [
    "Optimizer",
    [
      "optimizer",
      "lr",
      "adagrad-initial-accumulator",
      "lr-num-warmup-steps",
      "lr-decay-start-step",
      "lr-num-decay-steps",
    ],
  ],
  ["Run", ["steps", "epochs", "batch-size", "seed", "no-shuffle", "resume", "test-freq"]],
  ["Output", ["save", "save-dtype", "log", "plot", "print-freq", "print-sharding-plan", "help"]],
  ["Parallel", ["workers", "table-dir", "table-cache-bytes", "table-cache-policy", "table-prefetch", "table-io"]],
  ["Reference compatibility (the table tricks of facebookresearch/dlrm; docs/tricks.md)", [...TABLE_TRICK_FLAGS]],
];
