// The demo page in a real browser: Debian's chromium, headless, driven by playwright-core
// (which downloads no browser). The page is served by dlrm serve-demo's server, must be
// cross-origin isolated, trains on synthetic data in its module worker, and its held-out AUC
// must equal `dlrm train --data synthetic --workers 1` for the same seed, steps and batch.
// The bundle is built first (npm run -s demo). A screenshot goes to test-output/demo.png.
// Without chromium this fails under CI=true and is skipped, with the reason printed, elsewhere.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { runCli } from "../helpers/cli.ts";
import { DEMO_DIR, startDemoServer } from "../../src/cli/serve_demo.ts";
import { buildDemo } from "../../src/demo/build.ts";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const OUTPUT = new URL("../../test-output/", import.meta.url).pathname;
const available = existsSync(CHROMIUM);
const ci = process.env.CI === "true";
if (!available && !ci)
  console.log(
    `skipping the browser test: ${CHROMIUM} is absent (apt-get install chromium; under CI=true this is a failure)`,
  );

(available || ci ? test : test.skip)(
  "demo page: cross-origin isolated, trains in the tab, the CLI's AUC for the same seed and steps",
  async () => {
    assert.ok(available, `${CHROMIUM} is absent: .ci/run installs it (apt-get install -y chromium)`);
    const [steps, batch, seed, testFreq] = [300, 128, 7, 100];
    const cli = await runCli([
      "train",
      "--data",
      "synthetic",
      "--workers",
      "1",
      "--steps",
      String(steps),
      "--batch-size",
      String(batch),
      "--seed",
      String(seed),
      "--test-freq",
      String(testFreq),
    ]);
    assert.is(cli.code, 0, cli.stderr);
    const cliAuc = (JSON.parse(cli.stdout.trim().split("\n").at(-1) as string) as { auc: number }).auc;

    await buildDemo(true); // npm run -s demo
    const demo = await startDemoServer({ dir: DEMO_DIR, port: 0 });
    const profile = mkdtempSync(join(tmpdir(), "dlrm-chromium-"));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 800, height: 1000 },
    });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(demo.url);
      assert.is(
        await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated),
        true,
        "crossOriginIsolated",
      );
      for (const [id, v] of [
        ["steps", steps],
        ["batch", batch],
        ["seed", seed],
        ["test-freq", testFreq],
      ] as const)
        await page.fill(`#${id}`, String(v));
      await page.click("#train");
      await page.waitForSelector("body[data-state=done], body[data-state=error]", { timeout: 180_000 });
      assert.equal(errors, []);
      assert.is(await page.getAttribute("body", "data-state"), "done", (await page.textContent("#status")) ?? "");
      const pageAuc = Number(await page.getAttribute("#auc", "data-value"));
      assert.is(pageAuc, cliAuc, `page AUC ${pageAuc}, CLI AUC ${cliAuc}`);
      assert.is(await page.locator("#curves svg path.series").count(), 3, "loss, AUC and logloss curves");
      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, "demo.png"), fullPage: true });
    } finally {
      await browser.close();
      await demo.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);

test.run();
