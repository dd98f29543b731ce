// The entry of a rank worker thread. It receives its initial parameters in one message,
// builds its Rank (src/parallel/rank.ts), says "ready", and then waits on Atomics for
// commands from the main thread (train a step on a staged batch, export parameters, stop)
// until told to stop. Any error is reported to the main thread with the rank, step and
// phase, and the other ranks are woken from their collectives (abort) so nobody waits for
// a rank that is gone.
//
// Glossary: r this rank.

import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { CollectiveError } from "./collectives.ts";
import {
  ARG_SLOT,
  ARG_STEP,
  CMD_EXPORT,
  CMD_STEP,
  CMD_STOP,
  COMMAND,
  commandEntry,
  lrWord,
  SEQ,
  type ParamBlock,
  type RankInit,
  type RankMessage,
} from "./protocol.ts";
import { Rank } from "./rank.ts";

/** One wait for a command lasts at most this long, then the rank looks again. */
const IDLE_SLICE_MS = 1000;

function post(port: MessagePort, m: RankMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function run(port: MessagePort, init: RankInit): void {
  let rank: Rank | null = null;
  const fail = (e: unknown): void => {
    const err = e instanceof Error ? e : new Error(String(e));
    post(port, {
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

  port.once("message", (msg: { params: ParamBlock[] }) => {
    try {
      rank = new Rank(init, msg.params);
    } catch (e) {
      fail(e);
      return;
    }
    post(port, { type: "ready", rank: init.rank });
    const control = new Int32Array(init.control);
    const numbers = new Float64Array(init.numbers);
    let seen = 0;
    for (;;) {
      // Wait for the next command in bounded slices (it may already be there: the main
      // thread issues a step while the previous one runs). The main thread always ends a run
      // with a stop command or by terminating the thread (which also ends a wait).
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
        if (command === CMD_STEP) {
          const slot = Atomics.load(control, entry + ARG_SLOT);
          rank.trainStep(Atomics.load(control, entry + ARG_STEP), slot, numbers[lrWord(slot)] as number);
          post(port, { type: "done", rank: init.rank, seq: seen });
        } else if (command === CMD_EXPORT) {
          rank.enter("export", rank.step);
          const blocks = rank.exportParams();
          post(port, { type: "params", rank: init.rank, seq: seen, blocks }, blocks.map((b) => b.data.buffer as ArrayBuffer));
          rank.enter("waiting for a command", rank.step);
        } else {
          throw new Error(`unknown command ${command}`);
        }
      } catch (e) {
        fail(e);
        return;
      }
    }
  });
}

if (parentPort !== null) run(parentPort, workerData as RankInit);
