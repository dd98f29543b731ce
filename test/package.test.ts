// `npm pack` gives a package that works with no dev dependency: the checkout is packed
// (prepack builds dist/), the tarball is installed into a fresh project, and there plain
// .mjs imports it, the README's "Autodiff in ten lines" runs unchanged (extracted from
// README.md), docs/testing.md's example runs against dlrm-ts/testing with fast-check
// installed beside it, `npx dlrm train` runs from dist/ on 1 and 2 workers, `npx dlrm
// serve-demo` serves the demo that prepack built into the package (issue 24 item 10), and a
// TypeScript consumer type-checks against the shipped types without skipLibCheck, under
// moduleResolution nodenext and node10 (types/main and typesVersions), with @types/node, the
// optional peer the types need (item 14).
//
// Which test runs which README command (same verb and data source; smaller inputs):
//   npm ci, npm test                 the CI itself
//   npm pack, npm install, npx dlrm  this file (its npx dlrm train adds --batch-size 32 --seed 3)
//   npm start (train synthetic)      test/cli/train.test.ts (`--data synthetic --data-size 8000`)
//   dlrm train / predict on golden   test/cli/readme_commands.test.ts (extracted and run as written)
//   dlrm convert, dlrm export        test/cli/readme_commands.test.ts (on the golden run's checkpoint)
//   dlrm train … --log, dlrm plot    test/cli/readme_commands.test.ts (as written; = docs/curves.svg)
//   dlrm train movielens --split u1  test/cli/movielens.test.ts (`--steps 20` on a small fixture)
//   dlrm preprocess criteo, train    test/cli/criteo.test.ts (a small TSV)
//   npm run bench, bench/*.ts        NOT run by npm test (minutes long by design, docs/benchmarks.md)
//   "Autodiff in ten lines"          test/readme.test.ts (sources) and this file (installed package)
// Not run literally: the MovieLens line (it may write u1 splits into ../shared) and the Criteo
// lines (no full train.txt in CI); the tests named above run them on small inputs.
//
// The install uses the npm cache that `npm ci` filled (--offline); only when the cache
// lacks a package document does it fall back to --prefer-offline, i.e. the registry.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { autodiffExample } from "./helpers/readme.ts";
import { tempDir } from "./helpers/cli.ts";

const root = new URL("..", import.meta.url).pathname;
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** timeoutMs: npm pack runs prepack (tsc over the whole tree, then the demo bundle), minutes on a shared machine. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): string {
  // PATH keeps the checkout's node_modules/.bin out, so nothing resolves to a dev tool.
  const env = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", FORCE_COLOR: "0" };
  return execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
}

/** Starts the installed `dlrm serve-demo` on a free port, fetches the page and its bundle, stops it with SIGINT. */
async function serveDemoOnce(proj: string): Promise<void> {
  const bin = join(proj, "node_modules", "dlrm-ts", "bin", "dlrm.js");
  const child = spawn(process.execPath, [bin, "serve-demo", "--port", "0"], {
    cwd: proj,
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const url = await new Promise<string>((ok, fail) => {
      let err = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (c: string) => {
        err += c;
        const m = /serving on (http:\/\/\S+)/.exec(err);
        if (m !== null) ok(m[1] as string);
      });
      child.once("exit", (code) => fail(new Error(`serve-demo exited ${code}: ${err}`)));
    });
    for (const path of ["", "build/train_worker.js", "build/plot.js", "favicon.svg"]) {
      const r = await fetch(url + path);
      assert.is(r.status, 200, `${url}${path}`);
    }
  } finally {
    const exited = new Promise((ok) => child.once("exit", ok));
    child.kill("SIGINT");
    await exited;
  }
}

test("npm pack → npm install → import from .mjs, README example, npx dlrm train, serve-demo, types", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const packed = JSON.parse(run(npm, ["pack", "--json", "--pack-destination", dir], root, 600_000)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const info = packed[0] as { filename: string; files: { path: string }[] };
    const paths = new Set(info.files.map((f) => f.path));
    for (const p of [
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/cli/main.js",
      "dist/src/parallel/worker.js",
      "bin/dlrm.js",
    ]) {
      assert.ok(paths.has(p), `tarball lacks ${p}`);
    }
    const tgz = join(dir, info.filename);

    const proj = join(dir, "proj");
    mkdirSync(proj);
    writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "try-dlrm-ts", private: true, type: "module" }));
    try {
      run(npm, ["install", "--offline", "--no-audit", "--no-fund", tgz], proj);
    } catch {
      run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", tgz], proj);
    }
    const installed = join(proj, "node_modules", "dlrm-ts");
    assert.ok(existsSync(join(installed, "dist", "src", "index.d.ts")), "types are shipped");
    assert.not.ok(existsSync(join(proj, "node_modules", "tsx")), "tsx must not come with the package");
    assert.not.ok(existsSync(join(proj, "node_modules", "typescript")), "typescript must not come with the package");

    // The README example, unchanged: it imports from "dlrm-ts".
    writeFileSync(join(proj, "example.mjs"), autodiffExample());
    const out = run(process.execPath, ["example.mjs"], proj);
    assert.is(out.trim().split("\n").at(-1), "true");
    assert.match(out, /Float32Array\(6\)/);

    // exports: the package.json entry resolves, a deep import outside exports does not.
    writeFileSync(
      join(proj, "exports.mjs"),
      [
        `import { createRequire } from "node:module";`,
        `const require = createRequire(import.meta.url);`,
        `console.log(require("dlrm-ts/package.json").name);`,
        `try { await import("dlrm-ts/dist/src/tensor/tensor.js"); console.log("deep import allowed"); } catch (e) { console.log(e.code); }`,
      ].join("\n"),
    );
    assert.equal(run(process.execPath, ["exports.mjs"], proj).trim().split("\n"), [
      "dlrm-ts",
      "ERR_PACKAGE_PATH_NOT_EXPORTED",
    ]);

    // dlrm-ts/testing with its optional peer fast-check: the docs/testing.md example, as written.
    try {
      run(npm, ["install", "--offline", "--no-audit", "--no-fund", "fast-check@4"], proj);
    } catch {
      run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "fast-check@4"], proj);
    }
    const doc = readFileSync(join(root, "docs", "testing.md"), "utf8");
    const block = /```js\n([\s\S]*?)^```$/m.exec(doc);
    assert.ok(block !== null, "docs/testing.md has a js example");
    writeFileSync(join(proj, "softplus.mjs"), block[1] as string);
    assert.is(run(process.execPath, ["softplus.mjs"], proj).trim(), "softplus ok");

    // TypeScript consumers: the types resolve and check (README: TypeScript 5.7 or newer).
    try {
      run(npm, ["install", "--offline", "--no-audit", "--no-fund", "@types/node@20"], proj);
    } catch {
      run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "@types/node@20"], proj);
    }
    writeFileSync(
      join(proj, "consumer.ts"),
      [
        `import { fromArray, matmul, randn, sum, type Tensor } from "dlrm-ts";`,
        `import { assertClose } from "dlrm-ts/testing";`,
        `const loss: Tensor = sum(matmul(fromArray([[1, 2]]), randn([2, 1])));`,
        `assertClose(loss, loss);`,
        `export const value: number = loss.item();`,
      ].join("\n"),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    // nodenext checks every .d.ts (ours and fast-check's); node10 checks that ours resolve
    // through types/main and typesVersions (fast-check's own types need node16 or newer)
    for (const [module, resolution, skipLibCheck] of [
      ["nodenext", "nodenext", "false"],
      ["esnext", "node10", "true"],
    ] as const) {
      const args = ["--noEmit", "--strict", "--skipLibCheck", skipLibCheck, "--target", "es2022", "--module", module];
      run(process.execPath, [tsc, ...args, "--moduleResolution", resolution, "--types", "node", "consumer.ts"], proj);
    }

    // The demo, built by prepack into the package, served from it.
    assert.ok(existsSync(join(installed, "docs", "demo", "build", "train_worker.js")), "the demo's build is shipped");
    await serveDemoOnce(proj);

    for (const workers of ["1", "2"]) {
      const train = run(
        "npx",
        [
          "--no-install",
          "dlrm",
          "train",
          "--data",
          "random",
          "--steps",
          "5",
          "--batch-size",
          "32",
          "--workers",
          workers,
          "--seed",
          "3",
        ],
        proj,
      );
      const last = JSON.parse(train.trim().split("\n").at(-1) as string) as { step: number; train_loss: number };
      assert.is(last.step, 5, `workers ${workers}`);
      assert.ok(Number.isFinite(last.train_loss), `workers ${workers}: finite loss`);
    }
    assert.ok(readFileSync(join(installed, "package.json"), "utf8").includes('"dlrm-ts"'));
  } finally {
    cleanup();
  }
});

test.run();
