// Code blocks of README.md (and of the docs) by the heading they sit under, so tests run
// what the documents say instead of a copy that could drift.
import { readFileSync } from "node:fs";

const root = new URL("../../", import.meta.url);

/** The fenced code blocks (with their info string) under the `## heading` section of README.md. */
export function readmeBlocks(heading: string): { lang: string; code: string }[] {
  return markdownBlocks("README.md", heading);
}

/** The fenced code blocks under the `## heading` section of a markdown file of the repository. */
export function markdownBlocks(file: string, heading: string): { lang: string; code: string }[] {
  const text = readFileSync(new URL(file, root), "utf8");
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`${file} has no "## ${heading}" section`);
  const next = text.indexOf("\n## ", start + 4);
  const section = text.slice(start, next < 0 ? undefined : next);
  const blocks: { lang: string; code: string }[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(section); m !== null; m = fence.exec(section))
    blocks.push({ lang: m[1] ?? "", code: m[2] ?? "" });
  return blocks;
}

/** The one TypeScript example of "Autodiff in ten lines", as written in README.md. */
export function autodiffExample(): string {
  const ts = readmeBlocks("Autodiff in ten lines").filter((b) => b.lang === "ts");
  if (ts.length !== 1)
    throw new Error(`README.md: expected one ts block under "Autodiff in ten lines", found ${ts.length}`);
  return (ts[0] as { code: string }).code;
}

/** The commands of a sh block: comment lines dropped, `\` continuations joined. */
export function shellCommands(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** A command line's words as sh splits them: on blanks, except inside double quotes (no escapes or
 *  variables: the README's commands use neither). */
export function shellWords(cmd: string): string[] {
  const words: string[] = [];
  for (const m of cmd.matchAll(/"([^"]*)"|(\S+)/g)) words.push(m[1] ?? (m[2] as string));
  return words;
}
