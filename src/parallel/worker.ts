// The entry of a rank worker thread. It builds its Rank (src/parallel/rank.ts) from its
// workerData — making or reading its own parameters —, says "ready", and then waits on
// Atomics for commands from the main thread (train a step on a staged batch, predict a staged
// batch, write its pieces of a checkpoint, stop) until told to stop. The thread never returns
// to its event loop while it runs, so a save request posted by the main thread waits on the
// port until the rank takes it (receiveMessageOnPort). Any error is reported to the main
// thread with the rank, step and phase, and the other ranks are woken from their collectives
// (abort) so nobody waits for a rank that is gone.
//
// Glossary: r this rank.

import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { CollectiveError } from "./collectives.ts";
import {
  ARG_SLOT,
  ARG_STEP,
  CMD_PREDICT,
  CMD_SAVE,
  CMD_STEP,
  CMD_STOP,
  COMMAND,
  commandEntry,
  lrWord,
  SEQ,
  type RankInit,
  type RankMessage,
  type SaveRequest,
} from "./protocol.ts";
import { Rank } from "./rank.ts";

/** One wait for a command lasts at most this long, then the rank looks again. */
const IDLE_SLICE_MS = 1000;

function run(port: MessagePort, init: RankInit): void {
  let rank: Rank | null = null;
  const post = (m: RankMessage): void => port.postMessage(m);
  const fail = (e: unknown): void => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({
      type: "error",
      rank: init.rank,
      step: rank?.step ?? -1,
      phase: rank?.phase ?? "starting",
      message: err.message,
      stack: err.stack ?? "",
      collective: err instanceof CollectiveError ? { reason: err.reason, peer: err.peer } : null,
    });
    // Posted first, then the abort: the main thread hears the cause before the echoes.
    rank?.comm.abort();
    port.close();
  };

  try {
    rank = new Rank(init);
  } catch (e) {
    fail(e);
    return;
  }
  post({ type: "ready", rank: init.rank });
  const control = new Int32Array(init.control);
  const numbers = new Float64Array(init.numbers);
  let seen = 0;
  for (;;) {
    // Wait for the next command in bounded slices (it may already be there: the main thread
    // issues a step while the previous one runs). The main thread always ends a run with a
    // stop command or by terminating the thread (which also ends a wait).
    for (let issued = Atomics.load(control, SEQ); issued === seen; issued = Atomics.load(control, SEQ)) {
      Atomics.wait(control, SEQ, issued, IDLE_SLICE_MS);
    }
    seen += 1;
    const entry = commandEntry(seen);
    const command = Atomics.load(control, entry + COMMAND);
    if (command === CMD_STOP) {
      port.close();
      return;
    }
    try {
      const step = Atomics.load(control, entry + ARG_STEP);
      const slot = Atomics.load(control, entry + ARG_SLOT);
      if (command === CMD_STEP) rank.trainStep(step, slot, numbers[lrWord(slot)] as number);
      else if (command === CMD_PREDICT) rank.predict(step, slot);
      else if (command === CMD_SAVE) {
        rank.enter("save", rank.step);
        const m = receiveMessageOnPort(port);
        if (m === undefined) throw new Error("told to save, but no save request came");
        const req = m.message as SaveRequest;
        rank.save(req.tmp, new Map(req.slots), req.withOptimizer);
        rank.enter("waiting for a command", rank.step);
      } else throw new Error(`unknown command ${command}`);
      post({ type: "done", rank: init.rank, seq: seen });
    } catch (e) {
      fail(e);
      return;
    }
  }
}

if (parentPort !== null) run(parentPort, workerData as RankInit);
