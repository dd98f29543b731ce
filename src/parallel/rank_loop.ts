// The life of a rank thread, whatever the host: build its Rank (src/parallel/rank.ts) from its
// init — making or reading its own parameters —, say "ready", then wait on Atomics for
// commands from the main thread (train a step on a staged batch, predict a staged batch,
// write its pieces of a checkpoint, write its table store's figures into the shared numbers,
// stop) until told to stop; the last rank to finish a command says so (protocol.ts, the done
// words). The thread returns to its event loop only to take a request (RankPort.request: at
// once from the port in Node, a message awaited in a browser), so the commands of a step cost
// no message. Any error is reported to the main thread with the rank, step and phase, and the
// other ranks are woken from their collectives (abort) so nobody waits for a rank that is
// gone. The entries are worker.ts (Node) and worker_browser.ts (a browser module Worker).
//
// Glossary: r this rank.

import { CollectiveError } from "./collectives.ts";
import {
  allDone,
  ARG_SLOT,
  ARG_STEP,
  CMD_PEERS,
  CMD_PREDICT,
  CMD_SAVE,
  CMD_STEP,
  CMD_STOP,
  CMD_STORE_FIGURES,
  COMMAND,
  commandEntry,
  lrWord,
  SEQ,
  statusDone,
  writeStoreFigures,
  type RankInit,
} from "./protocol.ts";
import { Rank } from "./rank.ts";
import type { RankFiles, RankPort } from "./rank_threads.ts";

/** One wait for a command lasts at most this long, then the rank looks again. */
const IDLE_SLICE_MS = 1000;

export async function runRank(port: RankPort, init: RankInit, files: RankFiles | null): Promise<void> {
  let rank: Rank | null = null;
  const fail = (e: unknown): void => {
    const err = e instanceof Error ? e : new Error(String(e));
    port.post({
      type: "error",
      rank: init.rank,
      step: rank?.status.step ?? -1,
      phase: rank?.status.phase ?? "starting",
      message: err.message,
      stack: err.stack ?? "",
      collective: err instanceof CollectiveError ? { reason: err.reason, peer: err.peer } : null,
    });
    // Posted first, then the abort: the main thread hears the cause before the echoes.
    rank?.comm.abort();
    port.close();
  };

  try {
    rank = new Rank(init, files);
  } catch (e) {
    fail(e);
    return;
  }
  port.post({ type: "ready", rank: init.rank, head: rank.headArrays() });
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
      try {
        rank.close();
      } catch (e) {
        fail(e);
        return;
      }
      port.close();
      return;
    }
    try {
      const step = Atomics.load(control, entry + ARG_STEP);
      const slot = Atomics.load(control, entry + ARG_SLOT);
      if (command === CMD_STEP) rank.trainStep(step, slot, numbers[lrWord(slot)]);
      else if (command === CMD_PREDICT) rank.predict(step, slot);
      else if (command === CMD_SAVE) {
        rank.status.enter("save", rank.status.step);
        const req = await port.request();
        if (req.kind !== "save") throw new Error(`told to save, but the request is "${req.kind}"`);
        rank.save(req.target, new Map(req.slots), req.withOptimizer);
        rank.status.enter("waiting for a command", rank.status.step);
      } else if (command === CMD_PEERS) {
        const req = await port.request();
        if (req.kind !== "peers") throw new Error(`told to take the peers' arrays, but the request is "${req.kind}"`);
        rank.usePeers(req.heads);
      } else if (command === CMD_STORE_FIGURES) {
        const figures = rank.shards.storeFigures();
        if (figures === null) throw new Error("told to report its table store, but its tables are in memory");
        writeStoreFigures(numbers, init.ranks, init.rank, figures);
      } else throw new Error(`unknown command ${command}`);
      Atomics.store(control, statusDone(init.rank), seen);
      if (allDone(control, init.ranks, seen)) port.post({ type: "done", rank: init.rank, seq: seen });
    } catch (e) {
      fail(e);
      return;
    }
  }
}
