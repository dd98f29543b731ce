// dlrm serve-demo: every response (files, errors) carries the cross-origin isolation
// headers; it listens on the loopback interface by default and serves nothing outside its folder.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { DEMO_DIR, ISOLATION_HEADERS, startDemoServer } from "../../src/cli/serve_demo.ts";

/** A raw request (the path is sent as written, `..` included), with its status, headers and body. */
function get(
  url: string,
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

test("serve-demo: files and errors all carry COOP/COEP; loopback; nothing outside the folder", async () => {
  const t = tempDir();
  const site = join(t.dir, "site");
  mkdirSync(join(site, "js"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<!doctype html><title>demo</title>");
  writeFileSync(join(site, "js", "main.js"), "export {};");
  writeFileSync(join(t.dir, "secret.txt"), "secret");
  symlinkSync(join(t.dir, "secret.txt"), join(site, "link.txt"));
  const demo = await startDemoServer({ dir: site, port: 0 });
  try {
    assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const isolated = (r: { headers: Record<string, string | string[] | undefined> }, what: string): void => {
      for (const [k, v] of Object.entries(ISOLATION_HEADERS)) assert.is(r.headers[k.toLowerCase()], v, `${what}: ${k}`);
    };
    assert.is(ISOLATION_HEADERS["Cross-Origin-Opener-Policy"], "same-origin");
    assert.is(ISOLATION_HEADERS["Cross-Origin-Embedder-Policy"], "require-corp");
    const index = await get(demo.url, "/");
    assert.is(index.status, 200);
    assert.is(index.body, "<!doctype html><title>demo</title>");
    assert.is(index.headers["content-type"], "text/html; charset=utf-8");
    isolated(index, "/");
    const js = await get(demo.url, "/js/main.js");
    assert.is(js.headers["content-type"], "text/javascript; charset=utf-8");
    isolated(js, "/js/main.js");
    for (const path of [
      "/missing.js",
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/js/..%2f..%2fsecret.txt",
      "/link.txt",
    ]) {
      const r = await get(demo.url, path);
      assert.is(r.status, 404, path);
      assert.match(r.body, /^not found: /, path); // not the file outside the folder
      isolated(r, path);
    }
    const post = await get(demo.url, "/", "POST");
    assert.is(post.status, 405);
    isolated(post, "POST");
    const head = await get(demo.url, "/", "HEAD");
    assert.is(head.status, 200);
    assert.is(head.body, "");
  } finally {
    await demo.close();
    t.cleanup();
  }
});

test("serve-demo: a FIFO in the folder is refused at once (no blocking read), and the server goes on", async () => {
  const t = tempDir();
  writeFileSync(join(t.dir, "index.html"), "<!doctype html>");
  execFileSync("mkfifo", [join(t.dir, "pipe.js")]);
  const demo = await startDemoServer({ dir: t.dir, port: 0 });
  try {
    const r = await get(demo.url, "/pipe.js");
    assert.is(r.status, 404);
    assert.is(r.body, "not a regular file: /pipe.js\n");
    assert.is((await get(demo.url, "/")).status, 200);
  } finally {
    await demo.close();
    t.cleanup();
  }
});

test("serve-demo: the demo page names its icon, and the server has it (no 404 on /favicon.ico)", async () => {
  const html = readFileSync(join(DEMO_DIR, "index.html"), "utf8");
  const icon = /<link rel="icon"[^>]* href="([^"]+)"/.exec(html);
  assert.ok(icon !== null, "index.html has a <link rel=icon>");
  const demo = await startDemoServer({ dir: DEMO_DIR, port: 0 });
  try {
    const r = await get(demo.url, `/${icon[1] as string}`);
    assert.is(r.status, 200);
    assert.is(r.headers["content-type"], "image/svg+xml");
  } finally {
    await demo.close();
  }
});

test("serve-demo: a missing folder or a bad port is a one-line usage error", async () => {
  let r = await runCli(["serve-demo", "--dir", "/nonexistent/demo", "--port", "0"]);
  assert.is(r.code, 2);
  assert.is(r.stderr, "dlrm: serve-demo: cannot serve /nonexistent/demo: ENOENT\n");
  r = await runCli(["serve-demo", "--port", "70000"]);
  assert.is(r.code, 2);
  assert.is(r.stderr, "dlrm: serve-demo: --port must be at most 65535, got 70000\n");
});

test.run();
