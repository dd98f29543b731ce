// dlrm serve-demo: a tiny static file server (plain node:http) for the browser demo. Every
// response, errors included, carries Cross-Origin-Opener-Policy: same-origin and
// Cross-Origin-Embedder-Policy: require-corp, so the page is cross-origin isolated
// (`crossOriginIsolated` is true, SharedArrayBuffer and a shared WebAssembly.Memory exist)
// whatever it loads from the server: scripts, workers, wasm, SVG. It listens on the loopback
// interface unless --host says otherwise, serves GET and HEAD only, and never a file outside
// its folder (no `..`, no symbolic link out of it). It serves regular files only: a FIFO or a
// device in the folder would block or never end, so it is opened without blocking, refused
// after a look at what was opened, and a read that takes longer than READ_TIMEOUT_MS is cut
// off (the server stays responsive, and Ctrl-C stops it, whatever the folder holds).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { constants, existsSync, realpathSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { packageInfo } from "./package_root.ts";
import {
  getBool,
  getString,
  helpText,
  nonNegativeInt,
  parseFlags,
  UsageError,
  type FlagSpecs,
  type Io,
} from "./args.ts";

/** The headers that make a page cross-origin isolated, sent with every response. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

/** The demo's folder in this checkout or installed package (whose prepack builds docs/demo/build). */
export const DEMO_DIR = join(packageInfo().root, "docs", "demo");

/** How long one file may take to read before the request fails (a slow or stuck file system). */
export const READ_TIMEOUT_MS = 10_000;

const FLAGS: FlagSpecs = {
  dir: { type: "string", placeholder: "folder", help: "the folder to serve (default: docs/demo of this checkout)" },
  host: {
    type: "string",
    placeholder: "address",
    help: "the address to listen on (default 127.0.0.1, this machine only)",
  },
  port: { type: "int", help: "the port (default 8080; 0 picks a free one)" },
  help: { type: "bool", help: "show this help" },
};

export interface DemoServer {
  server: Server;
  /** http://host:port/ */
  url: string;
  close(): Promise<void>;
}

/** Serve `dir` on host:port (port 0: any free one) until closed. */
export async function startDemoServer(opts: { dir: string; host?: string; port?: number }): Promise<DemoServer> {
  let root: string;
  try {
    root = realpathSync(opts.dir);
    if (!statSync(root).isDirectory()) throw new Error("not a folder");
  } catch (e) {
    throw new UsageError(
      `serve-demo: cannot serve ${opts.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const host = opts.host ?? "127.0.0.1";
  const server = createServer((req, res) => void handle(root, req, res));
  await new Promise<void>((ok, fail) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      fail(new Error(`serve-demo: cannot listen on ${host}:${opts.port ?? 8080}: ${e.code ?? e.message}`)),
    );
    server.listen(opts.port ?? 8080, host, () => ok());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const shown = host.includes(":") ? `[${host}]` : host;
  return { server, url: `http://${shown}:${port}/`, close: () => new Promise((ok) => server.close(() => ok())) };
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, {
      ...ISOLATION_HEADERS,
      "Content-Type": type,
      "Content-Length": String(Buffer.byteLength(body)),
      ...extra,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD")
    return reply(405, "text/plain; charset=utf-8", `method ${req.method ?? "?"} not allowed\n`, { Allow: "GET, HEAD" });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
  } catch {
    return reply(400, "text/plain; charset=utf-8", "bad request path\n");
  }
  if (path.includes("\0")) return reply(400, "text/plain; charset=utf-8", "bad request path\n");
  let file = resolve(join(root, path));
  try {
    if (statSync(file).isDirectory()) file = join(file, "index.html");
    file = realpathSync(file);
  } catch {
    return reply(404, "text/plain; charset=utf-8", `not found: ${path}\n`);
  }
  if (file !== root && !file.startsWith(root + sep))
    return reply(404, "text/plain; charset=utf-8", `not found: ${path}\n`);
  const body = await readRegularFile(file);
  if (typeof body === "string")
    return reply(body === "timeout" ? 503 : 404, "text/plain; charset=utf-8", `${body}: ${path}\n`);
  reply(200, CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream", body);
}

/** The bytes of `file` if it is a regular file read within READ_TIMEOUT_MS; else why not. */
async function readRegularFile(file: string): Promise<Buffer | "not found" | "not a regular file" | "timeout"> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return "not found";
  }
  try {
    if (!(await handle.stat()).isFile()) return "not a regular file";
    return await handle.readFile({ signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  } catch (e) {
    return (e as Error).name === "TimeoutError" || (e as Error).name === "AbortError" ? "timeout" : "not found";
  } finally {
    await handle.close();
  }
}

/** The verb: serve until Ctrl-C (or SIGTERM), then close and return 0. */
export async function runServeDemo(argv: readonly string[], io: Io): Promise<number> {
  const f = parseFlags("serve-demo", argv, FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(
      helpText(
        "Usage: dlrm serve-demo [flags]",
        "Serve the browser demo with the headers that make it cross-origin isolated (docs/browser.md).",
        FLAGS,
      ),
    );
    return 0;
  }
  const port = nonNegativeInt("serve-demo", f, "port") ?? 8080;
  if (port > 65535) throw new UsageError(`serve-demo: --port must be at most 65535, got ${port}`);
  const dir = getString(f, "dir") ?? DEMO_DIR;
  if (dir === DEMO_DIR && !existsSync(join(DEMO_DIR, "build", "train_worker.js")))
    throw new UsageError(
      `serve-demo: the demo is not built (${join(DEMO_DIR, "build")} is absent): in a checkout, run npm run -s demo first`,
    );
  const demo = await startDemoServer({ dir, host: getString(f, "host") ?? "127.0.0.1", port });
  io.stderr.write(`dlrm serve-demo: serving on ${demo.url} (Ctrl-C stops)\n`);
  await new Promise<void>((ok) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      ok();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await demo.close();
  return 0;
}
