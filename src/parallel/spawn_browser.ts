// A browser's StartRanks (src/parallel/rank_threads.ts): each rank is a module Worker of the
// bundled rank entry (src/parallel/worker_browser.ts) at a URL the page's bundle knows, sent
// its RankInit as its first message. The run's SharedArrayBuffers go along in that message,
// which needs a cross-origin isolated page (COOP/COEP). A browser Worker reports no exit, and
// terminate() ends it at once, even inside Atomics.wait.
//
// Glossary: N ranks, r a rank.

import type { RankInit, RankMessage, RankRequest } from "./protocol.ts";
import type { RankGroup, RankThread, StartRanks } from "./rank_threads.ts";

/** A browser Worker, as far as this file uses it (the project's types have no DOM). */
interface BrowserWorker {
  postMessage(m: unknown): void;
  terminate(): void;
  addEventListener(type: string, f: (e: { data?: unknown; message?: string }) => void): void;
  removeEventListener(type: string, f: (e: { data?: unknown; message?: string }) => void): void;
}
type WorkerConstructor = new (url: URL, options: { type: "module"; name?: string }) => BrowserWorker;

/** Start ranks as module Workers of the script at url (the bundled worker_browser.ts). */
export function browserRankStarter(url: URL): StartRanks {
  return async (N: number, init: (r: number) => RankInit): Promise<RankGroup> => {
    if (!Number.isInteger(N) || N < 1) throw new Error(`startRanks: N must be a positive integer, got ${N}`);
    const WorkerCtor = (globalThis as { Worker?: WorkerConstructor }).Worker;
    if (WorkerCtor === undefined) throw new Error("startRanks: this host has no Worker");
    if (typeof SharedArrayBuffer !== "function")
      throw new Error("startRanks: no SharedArrayBuffer here: the page must be cross-origin isolated (COOP/COEP)");
    const workers: BrowserWorker[] = [];
    try {
      for (let r = 0; r < N; r++) {
        const w = new WorkerCtor(url, { type: "module", name: `rank ${r}` });
        workers.push(w);
        w.postMessage(init(r));
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    const threads = workers.map((w): RankThread => ({
      postMessage: (m: RankRequest) => w.postMessage(m),
      listen: (on) => {
        const message = (e: { data?: unknown }): void => on.message(e.data as RankMessage);
        const error = (e: { message?: string }): void => on.error(new Error(e.message ?? "the Worker failed"));
        const messageError = (): void => on.error(new Error("a message from the Worker could not be read"));
        w.addEventListener("message", message);
        w.addEventListener("error", error);
        w.addEventListener("messageerror", messageError);
        return () => {
          w.removeEventListener("message", message);
          w.removeEventListener("error", error);
          w.removeEventListener("messageerror", messageError);
        };
      },
    }));
    return {
      threads,
      stop: async () => {
        for (const w of workers) w.terminate();
        return [];
      },
    };
  };
}
