// npm runs quietly in this checkout: no project config key it does not know (npm 11 warns
// "Unknown project config" on every command for one), and every dependency with an install
// script is approved or denied in package.json's allowScripts (npm 11.19 ends each install with
// a list of the scripts it skipped otherwise). onnxruntime-node stays denied: its script would
// download CUDA binaries (docs/serving.md).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;

test("npm install-scripts ls: every install script reviewed, no unknown project config", () => {
  const env = { ...process.env, npm_config_update_notifier: "false" };
  const r = spawnSync("npm", ["install-scripts", "ls"], { cwd: root, env, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0 && /Unknown command/i.test(r.stdout + r.stderr)) {
    console.log(`  skipped: this npm has no install-scripts command (${r.stderr.trim().split("\n")[0]})`);
    return;
  }
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /Unknown (project|env|user) config/);
  assert.match(r.stdout, /No packages with unreviewed install scripts/);
});

test("package.json: onnxruntime-node's install script (a CUDA download) is denied", () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { allowScripts?: Record<string, boolean> };
  assert.is(pkg.allowScripts?.["onnxruntime-node"], false);
});

test.run();
