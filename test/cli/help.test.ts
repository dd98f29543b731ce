// Issue 24 item 12: what a new user reads first. `dlrm train --help` in groups, wrapped to
// 100 columns, pointing at docs/config.md (in the repo and the package) for the --model file;
// `dlrm --version`; "did you mean" for a misspelled flag or verb; the README names only verbs
// that exist; docs/config.md documents the fields the config parser knows.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { runCli } from "../helpers/cli.ts";
import { VERBS } from "../../src/cli/main.ts";
import { TRAIN_FLAGS } from "../../src/cli/train.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { markdownBlocks } from "../helpers/readme.ts";

const root = new URL("../../", import.meta.url).pathname;

test("train --help: grouped, every flag in a named group, lines of at most 100 columns, config fields in docs/config.md", async () => {
  const r = await runCli(["train", "--help"]);
  assert.is(r.code, 0);
  const lines = r.stdout.split("\n");
  for (const l of lines) assert.ok([...l].length <= 100, `${[...l].length} columns: ${l}`);
  const titles = lines.filter((l) => /^[A-Z][^:]*:$/.test(l)).map((l) => l.split(" (")[0]?.replace(/:$/, ""));
  assert.equal(titles, ["Model", "Data", "Optimizer", "Run", "Output", "Parallel", "Reference compatibility"]);
  for (const name of Object.keys(TRAIN_FLAGS)) assert.match(r.stdout, `  --${name}`);
  assert.not.match(r.stdout, /shared\/golden/);
  assert.match(r.stdout, /docs\/config\.md/);
  assert.ok(existsSync(`${root}docs/config.md`));
});

test("dlrm --help and every verb's --help fit in 100 columns", async () => {
  for (const args of [["--help"], ...VERBS.map((v) => [v, "--help"])]) {
    const r = await runCli(args);
    assert.is(r.code, 0, args.join(" "));
    for (const l of r.stdout.split("\n")) assert.ok([...l].length <= 100, `${args.join(" ")}: ${l}`);
  }
});

test("dlrm --version prints the package's version", async () => {
  const r = await runCli(["--version"]);
  assert.is(r.code, 0);
  const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { version: string };
  assert.is(r.stdout, `dlrm-ts ${pkg.version}\n`);
});

test("a misspelled flag or verb: did you mean; evaluate points at predict --metrics; no guess when nothing is close", async () => {
  for (const [args, message] of [
    [["train", "--stpes", "3"], "dlrm: train: unknown flag --stpes (did you mean --steps?) (see dlrm train --help)"],
    [
      ["predict", "--chekpoint", "c"],
      "dlrm: predict: unknown flag --chekpoint (did you mean --checkpoint?) (see dlrm predict --help)",
    ],
    [["train", "--frobnicate"], "dlrm: train: unknown flag --frobnicate (see dlrm train --help)"],
    [
      ["trian"],
      'dlrm: unknown verb "trian" (did you mean train?) (expected train, predict, preprocess, convert, export, plot or serve-demo; see dlrm --help)',
    ],
    [
      ["evaluate"],
      'dlrm: unknown verb "evaluate" (did you mean predict --metrics?) (expected train, predict, preprocess, convert, export, plot or serve-demo; see dlrm --help)',
    ],
  ] as [string[], string][]) {
    const r = await runCli(args);
    assert.is(r.code, 2, args.join(" "));
    assert.is(r.stderr, `${message}\n`);
  }
});

test("README: every `dlrm <verb>` it names exists", () => {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const named = [...readme.matchAll(/(?:`dlrm|dlrm --) ([a-z][a-z-]*)/g)].map((m) => m[1] as string);
  assert.ok(named.length > 5);
  for (const verb of named) assert.ok((VERBS as readonly string[]).includes(verb), `README names "dlrm ${verb}"`);
  assert.not.match(readme, /\bevaluate \(/);
});

test("docs/config.md: its example is a valid config, and it documents every field the parser knows", () => {
  const doc = readFileSync(`${root}docs/config.md`, "utf8");
  const example = markdownBlocks("docs/config.md", "Example").find((b) => b.lang === "json");
  assert.ok(example !== undefined, "a json example");
  const config = parseConfig(JSON.parse(example.code), "docs/config.md");
  const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1] as string);
  for (const field of Object.keys(config)) assert.ok(documented.includes(field), `docs/config.md lacks "${field}"`);
  for (const field of documented) {
    // a documented field is one the parser reads: a bad value is refused naming it, not as unknown
    const bad = () => parseConfig({ ...JSON.parse(example.code), [field]: "?" }, "x");
    assert.throws(bad, (e: Error) => e.message.includes(`"${field}`) && !e.message.includes("unknown field"));
  }
});

test.run();
