// The entry of a rank worker thread in Node (node:worker_threads, started by
// src/parallel/spawn.ts): runs the rank's command loop (rank_loop.ts) with its workerData,
// its parent port, and Node's file access for checkpoints (rank_files.ts). The thread never
// returns to its event loop while it runs, so a request posted by the main thread (save, peers)
// waits on the port until the rank takes it (receiveMessageOnPort).

import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { RankInit, RankMessage, RankRequest } from "./protocol.ts";
import { nodeRankFiles } from "./rank_files.ts";
import { runRank } from "./rank_loop.ts";

function nodePort(port: MessagePort): {
  post(m: RankMessage): void;
  request(): RankRequest;
  close(): void;
} {
  return {
    post: (m) => port.postMessage(m),
    request: () => {
      const m = receiveMessageOnPort(port);
      if (m === undefined) throw new Error("told to take a request (save, peers), but none came");
      return m.message as RankRequest;
    },
    close: () => port.close(),
  };
}

if (parentPort !== null) void runRank(nodePort(parentPort), workerData as RankInit, nodeRankFiles);
