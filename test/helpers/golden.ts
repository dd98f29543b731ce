// Where the shared fixtures live, and how tests skip (with a printed reason) without them.
//
// DLRM_SHARED names the folder instead of ../shared beside the repository (a clone
// elsewhere, or a run that checks what the suite does without the fixtures).
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The shared folder (read-only fixtures: golden cases and licensed data), ending in "/". */
export const SHARED = process.env.DLRM_SHARED
  ? process.env.DLRM_SHARED.replace(/\/?$/, "/")
  : fileURLToPath(new URL("../../../shared/", import.meta.url));
export const GOLDEN = `${SHARED}golden/`;
export const DATA = `${SHARED}data/`;

/**
 * Folders of golden cases (each with config.json). Without any, [] and one skipped test
 * registered on `test`, so that the run's summary counts what did not run.
 */
export function goldenCases(test: { skip: (name: string, fn: () => void) => void }, suite: string): string[] {
  const names = existsSync(GOLDEN)
    ? readdirSync(GOLDEN, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(`${GOLDEN}${d.name}/config.json`))
        .map((d) => d.name)
        .sort()
    : [];
  if (names.length === 0) {
    console.log(`  skipped: no golden cases at ${GOLDEN} (they come with the project's shared folder)`);
    test.skip(`${suite}: every golden case (none at ${GOLDEN})`, () => {});
  }
  return names;
}
