// The data layer's two file accesses (src/data/files.ts) answer alike: Node's files on disk
// (src/cli/node_files.ts) and the same bytes held in memory (src/data/byte_files.ts), for
// every question the readers ask — folders, sizes, text, reads by position and in chunks.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byteDataFiles } from "../../src/data/byte_files.ts";
import { NotAFileError, readChunks, type DataFiles } from "../../src/data/files.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";
import { openFds } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dlrm-files-"));
// Latin-1 bytes past 0x7f (0x80-0x9f differ from windows-1252), a UTF-8 text with a byte-order mark, a binary file.
const FILES: Record<string, Uint8Array> = {
  "a/latin.txt": Uint8Array.from([0x41, 0x80, 0x9f, 0xe9, 0x0a]),
  "a/utf.txt": new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("héllo\n")]),
  "b.bin": Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255),
};
mkdirSync(join(dir, "a"));
for (const [name, bytes] of Object.entries(FILES)) writeFileSync(join(dir, name), bytes);
const inMemory = byteDataFiles(new Map(Object.entries(FILES).map(([k, v]) => [join(dir, k), v])));

async function answers(files: DataFiles): Promise<unknown> {
  const bin = files.open(join(dir, "b.bin"));
  const at = new Uint8Array(10);
  const past = new Uint8Array(10);
  const got = [bin.readSync(at, 995), await bin.read(past, 1000)];
  const whole = new Uint8Array(300);
  const tail = await bin.read(whole, 700);
  bin.close();
  const chunks: number[][] = [];
  for await (const c of readChunks(files.open(join(dir, "b.bin")), 384)) chunks.push([c.length, c[0] as number]);
  const utf = files.open(join(dir, "a/utf.txt"));
  const sizeOpen = utf.size;
  utf.close();
  return {
    exists: [files.exists(join(dir, "a")), files.exists(join(dir, "b.bin")), files.exists(join(dir, "c"))],
    list: files.list(join(dir, "a")).sort(),
    size: files.size(join(dir, "b.bin")),
    latin1: files.readText(join(dir, "a/latin.txt"), "latin1"),
    utf8: files.readText(join(dir, "a/utf.txt"), "utf8"),
    sizeOpen,
    got,
    tail,
    at: [...at],
    whole: [...whole.subarray(0, 5)],
    chunks,
    joined: files.join("x", "y.txt"),
    folder: files.dirname(join(dir, "a/utf.txt")),
  };
}

test("bytes in memory answer as Node's files on disk", async () => {
  const before = openFds();
  const onDisk = await answers(nodeDataFiles);
  assert.equal(openFds(), before, "every file opened was closed");
  assert.equal(await answers(inMemory), onDisk);
  assert.equal((onDisk as { latin1: string }).latin1, "A\u0080\u009f\u00e9\n");
  assert.equal((onDisk as { chunks: number[][] }).chunks, [
    [384, 0],
    [384, (384 * 7) & 255],
    [232, (768 * 7) & 255],
  ]);
});

test("a file that is not there is an error naming it", () => {
  assert.throws(() => inMemory.open(join(dir, "c")), /c: no such file/);
  assert.throws(() => nodeDataFiles.open(join(dir, "c")), /ENOENT/);
  assert.throws(() => inMemory.list(join(dir, "c")), /no such folder/);
});

test("a folder, and in Node a pipe, is refused when opened (a pipe would block), as NotAFileError naming it", () => {
  for (const files of [nodeDataFiles, inMemory]) {
    try {
      files.open(join(dir, "a"));
      assert.unreachable("a folder opened");
    } catch (e) {
      assert.ok(e instanceof NotAFileError && e.folder, String(e));
      assert.match((e as Error).message, /\/a: is a folder$/);
    }
  }
  const fifo = join(dir, "fifo");
  assert.is(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
  try {
    nodeDataFiles.open(fifo);
    assert.unreachable("a pipe opened");
  } catch (e) {
    assert.ok(e instanceof NotAFileError && !e.folder, String(e));
    assert.match((e as Error).message, /fifo: is not a regular file/);
  }
});

test("in Node, a file left unclosed to the garbage collector is closed then, with a warning naming it", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const warnings: string[] = [];
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error) => void warnings.push(String(w))) as typeof process.emitWarning; // kept out of the test's output
  try {
    const before = openFds();
    (() => nodeDataFiles.open(join(dir, "b.bin")))(); // opened, never closed, unreachable
    for (let k = 0; k < 20 && !warnings.some((w) => w.includes("b.bin")); k++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(
      warnings.some((w) => /b\.bin was not closed; its descriptor \d+ is closed on garbage collection/.test(w)),
      warnings.join("\n"),
    );
    assert.equal(openFds(), before);
  } finally {
    process.emitWarning = emit;
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
