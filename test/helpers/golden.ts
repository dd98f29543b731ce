// Where the shared fixtures live, and how tests skip (with a printed reason) without them.
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** ../shared beside the repository (read-only fixtures: golden cases and licensed data). */
export const SHARED = fileURLToPath(new URL("../../../shared/", import.meta.url));
export const GOLDEN = `${SHARED}golden/`;
export const DATA = `${SHARED}data/`;

/** Folders of golden cases (each with config.json), or [] with a printed reason. */
export function goldenCases(): string[] {
  if (!existsSync(GOLDEN)) {
    console.log(`  skipped: no golden cases at ${GOLDEN} (they come with the project's shared folder)`);
    return [];
  }
  return readdirSync(GOLDEN, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(`${GOLDEN}${d.name}/config.json`))
    .map((d) => d.name)
    .sort();
}
