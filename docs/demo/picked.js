// What the page says under the data choices once files are picked (before any is read): the
// folder or files, their size, and for MovieLens which of the files the run needs it found.
// Plain ESM with no page globals, so that test/demo/picked.test.ts runs it in Node.

/** The MovieLens files the training thread reads (src/demo/demo_data.ts MOVIELENS_FILES); u.data is the one it cannot do without. */
export const MOVIELENS_SPLITS = ["u1", "u2", "u3", "u4", "u5", "ua", "ub"];
export const MOVIELENS_FILES = ["u.user", "u.item", "u.data", ...MOVIELENS_SPLITS.flatMap((s) => [`${s}.base`, `${s}.test`])];

function size(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

/**
 * The status line for files picked for `kind` ("movielens" or "criteo"): { text, bad }.
 * files: [{ name, size, webkitRelativePath? }], as an <input type=file>'s FileList holds them.
 */
export function pickedStatus(kind, files) {
  if (files.length === 0) return { text: "", bad: false };
  const total = size(files.reduce((a, f) => a + f.size, 0));
  if (kind === "movielens") {
    const folder = (files[0].webkitRelativePath || files[0].name).split("/")[0];
    const names = new Set(files.map((f) => f.name));
    const found = MOVIELENS_FILES.filter((n) => names.has(n));
    if (!names.has("u.data"))
      return { text: `${folder}: no u.data among its ${files.length} files: pick the MovieLens-100K folder (ml-100k)`, bad: true };
    const splits = found.filter((n) => n.endsWith(".base") || n.endsWith(".test")).length;
    return {
      text: `${folder}: ${files.length} files, ${total}; found ${found.filter((n) => n.startsWith("u.")).join(", ")} and ${splits} split files (u1 … u5 are rebuilt from u.data when absent)`,
      bad: false,
    };
  }
  return {
    text: `${files.length} file${files.length === 1 ? "" : "s"}, ${total}: ${files.map((f) => f.name).join(", ")}${files.length > 1 ? " (one day each, in this order)" : ""}`,
    bad: false,
  };
}
