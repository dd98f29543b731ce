// The entry of a rank worker in a browser (a module Worker, started by
// src/parallel/spawn_browser.ts): its first message is its RankInit; then it runs the rank's
// command loop (rank_loop.ts) on this Worker's own wasm memory and the shared buffers of the
// run. Later messages are requests (save, peers), which the loop awaits when told to (the Worker
// returns to its event loop only then). There is no file access here: a checkpoint is
// written into shared memory (SaveTarget "memory").

import type { RankInit, RankMessage, RankRequest } from "./protocol.ts";
import { runRank } from "./rank_loop.ts";

/** The Worker's global scope, as far as this file uses it (the project's types have no DOM). */
const scope = globalThis as unknown as {
  postMessage(m: RankMessage): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
};

let started = false;
const requests: RankRequest[] = [];
let waiting: ((r: RankRequest) => void) | null = null;

scope.onmessage = (e) => {
  if (!started) {
    started = true;
    // Started from the handler's task; the loop blocks in Atomics.wait between commands and
    // awaits only in request, when this handler runs again for the request.
    void runRank(
      {
        post: (m) => scope.postMessage(m),
        request: () => {
          const r = requests.shift();
          if (r !== undefined) return r;
          return new Promise<RankRequest>((resolve) => (waiting = resolve));
        },
        close: () => scope.close(),
      },
      e.data as RankInit,
      null,
    );
    return;
  }
  const r = e.data as RankRequest;
  if (waiting !== null) {
    const w = waiting;
    waiting = null;
    w(r);
  } else requests.push(r);
};
