// The JSON lines `dlrm train --log` writes, read back as runs to plot: one object per
// optimizer step ({step, loss, accuracy, lr, t_ms}; logs written before the batch's accuracy
// lack it) and one per evaluation ({event: "eval", step, auc, logloss, ne, calibration, ...};
// logs written before NE and calibration lack them). An ensemble's lines carry `member: k`;
// each member becomes its own run, and the ensemble's final evaluation (no member) a run of
// its own ("<name> ensemble"). A step line's `step` counts from 0 (the steps before it) while an evaluation's counts the
// steps done; a step is read as the steps done after it, as the progress bar shows it, so
// that the loss of step N and the evaluation after N steps line up. Other events are
// skipped. A line that is not JSON, or a step line without a numeric step and loss, is an
// error naming the file and line.
//
// Glossary: a run = one model's curves; a log = one file, holding one run or an ensemble's.

import { OpError } from "../tensor/shape.ts";

export interface StepPoint {
  /** Steps done after this one (1-based, as the progress bar counts; the log's `step` + 1). */
  step: number;
  /** This step's training loss; NaN when the run logged a non-finite loss (JSON null). */
  loss: number;
  /** The batch's accuracy before the update; NaN when absent (a log written before it). */
  accuracy: number;
}

export interface EvalPoint {
  step: number;
  /** NaN when the evaluation had no AUC (JSON null, e.g. one class only). */
  auc: number;
  logloss: number;
  /** Normalized entropy and calibration; NaN when undefined (null) or when the log predates them (absent). */
  ne: number;
  calibration: number;
  /** The share of predictions on the right side of 0.5; NaN when absent (an old or hand-written log). */
  accuracy: number;
}

export interface Run {
  name: string;
  steps: StepPoint[];
  evals: EvalPoint[];
}

/** The runs in one log's text; `name` (e.g. the file's name) names them and the errors. */
export function parseRunLog(text: string, name: string): Run[] {
  const byMember = new Map<number | null, Run>();
  const runOf = (member: number | null): Run => {
    let run = byMember.get(member);
    if (run === undefined) {
      run = { name, steps: [], evals: [] };
      byMember.set(member, run);
    }
    return run;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    const where = `${name}:${i + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch {
      throw new OpError("plot", `${where}: not a JSON line: ${raw.slice(0, 60)}`);
    }
    if (typeof o !== "object" || o === null || Array.isArray(o))
      throw new OpError("plot", `${where}: expected a JSON object, got ${raw.slice(0, 60)}`);
    const rec = o as Record<string, unknown>;
    const member = rec["member"] === undefined ? null : integerField(rec, "member", where);
    const step = integerField(rec, "step", where);
    if (rec["event"] === "eval")
      runOf(member).evals.push({
        step,
        auc: metricField(rec, "auc", where),
        logloss: metricField(rec, "logloss", where),
        ne: optionalMetricField(rec, "ne", where),
        calibration: optionalMetricField(rec, "calibration", where),
        accuracy: optionalMetricField(rec, "accuracy", where),
      });
    else if (rec["event"] === undefined)
      runOf(member).steps.push({
        step: step + 1,
        loss: metricField(rec, "loss", where),
        accuracy: optionalMetricField(rec, "accuracy", where),
      });
  }
  const members = [...byMember.keys()].some((m) => m !== null);
  return [...byMember.entries()].map(([member, run]) => ({
    ...run,
    name: member !== null ? `${name} member ${member}` : members ? `${name} ensemble` : name,
  }));
}

function integerField(rec: Record<string, unknown>, field: string, where: string): number {
  const v = rec[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new OpError("plot", `${where}: "${field}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

/** A logged metric: a number, or null (JSON's rendering of NaN/Infinity) read as NaN. */
function metricField(rec: Record<string, unknown>, field: string, where: string): number {
  const v = rec[field];
  if (v === null) return Number.NaN;
  if (typeof v !== "number")
    throw new OpError("plot", `${where}: "${field}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** A metric that older logs do not carry: absent reads as NaN (not drawn), as null does. */
function optionalMetricField(rec: Record<string, unknown>, field: string, where: string): number {
  return rec[field] === undefined ? Number.NaN : metricField(rec, field, where);
}
