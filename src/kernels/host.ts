// What the library asks of the JavaScript host without assuming Node, so that the training
// path also runs in a browser (or a Web Worker): environment variables (Node's process.env;
// a browser has none), warnings (process.emitWarning; console.warn elsewhere), the stream
// for progress lines (process.stderr; console.error elsewhere), ending the thread at once
// (process.exit; for the failure tests of the ranks), a turn of the event loop (setImmediate) and V8 flags (node:v8, reached
// through process.getBuiltinModule, so that no Node module is imported statically).

interface NodeLike {
  env?: Record<string, string | undefined>;
  stderr?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  emitWarning?: (message: string, type: string) => void;
  getBuiltinModule?: (id: string) => object | undefined;
  exit?: (code: number) => never;
}

const nodeProcess: NodeLike | undefined = (globalThis as { process?: NodeLike }).process;

/** An environment variable of the host process; undefined where there is none (a browser). */
export function hostEnv(name: string): string | undefined {
  return nodeProcess?.env?.[name];
}

/** A warning for the user: Node's process warning (type shown as its name), else the console. */
export function hostWarning(message: string, type: string): void {
  if (nodeProcess?.emitWarning !== undefined) nodeProcess.emitWarning(message, type);
  else console.warn(`${type}: ${message}`);
}

/** Where progress lines go by default: the process's stderr, else the console (one call per line). */
export function hostStderr(): { write(s: string): unknown; isTTY?: boolean; columns?: number } {
  return nodeProcess?.stderr ?? { write: (s: string) => console.error(s.replace(/\n$/, "")) };
}

/** Set a V8 flag for the whole process (Node's v8.setFlagsFromString); false where the host has no such call. */
export function setV8Flag(flag: string): boolean {
  const v8 = nodeProcess?.getBuiltinModule?.("node:v8") as { setFlagsFromString?: (f: string) => void } | undefined;
  if (v8?.setFlagsFromString === undefined) return false;
  v8.setFlagsFromString(flag);
  return true;
}

/** End the calling thread at once with this exit code (Node: process.exit, which in a worker thread ends that thread); throws where the host has no such call. */
export function hostExit(code: number): never {
  if (nodeProcess?.exit === undefined) throw new Error(`this host cannot end a thread with exit code ${code}`);
  return nodeProcess.exit(code);
}

const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;

/** Let the event loop run once (a signal handler, a message): Node's setImmediate, else a zero timer. */
export function hostYield(): Promise<void> {
  return new Promise((resolve) => (immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0)));
}
