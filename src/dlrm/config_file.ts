// A model config read from a JSON file (Node's file system): kept apart from config.ts so
// that the model and the training step load where there are no files (a browser page).

import { readFileSync } from "node:fs";
import { ConfigError, parseConfig, type DLRMConfig } from "./config.ts";

/** The config in the JSON file at `path`; errors name the file (and the field). */
export function readConfig(path: string): DLRMConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read the model config: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json, path);
}
