// Run the dlrm CLI in-process and capture what it prints.
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
  });
  return { code, stdout, stderr };
}

/** The last line of stdout as JSON (dlrm train's final metrics, preprocess's summary). */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}

/** A fresh temporary folder, removed by the returned cleanup function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The files this process has open (Linux's /proc/self/fd, the regular files and folders the
 *  descriptors point to, without pipes, sockets and the like), or null where there is no such
 *  folder: a command that returns has closed every file it opened. */
export function openFds(): string[] | null {
  if (!existsSync("/proc/self/fd")) return null;
  const targets: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor of the listing itself, closed by now
    }
    if (target.startsWith("/") && !target.startsWith("/proc/") && !target.startsWith("/dev/")) targets.push(target);
  }
  return targets.sort();
}
