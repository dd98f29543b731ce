// docs/benchmarks.md is written by two programs: bench/run.ts (kernels and one-thread
// training) renders the whole file, and bench/parallel.bench.ts --docs renders the section
// on hybrid-parallel training. Each section that another program owns sits between two
// marker comments, so that either program can rewrite its part and keep the other's.

const begin = (name: string): string => `<!-- section ${name}: begin -->`;
const end = (name: string): string => `<!-- section ${name}: end -->`;

/** The marked section `name` of doc, markers included, or null when doc has none. */
export function extractSection(doc: string, name: string): string | null {
  const a = doc.indexOf(begin(name));
  const b = doc.indexOf(end(name));
  if (a < 0 || b < a) return null;
  return doc.slice(a, b + end(name).length);
}

/** doc with section `name` set to body (between markers): replaced where it is, else appended. */
export function replaceSection(doc: string, name: string, body: string): string {
  const marked = `${begin(name)}\n${body.trim()}\n${end(name)}`;
  const old = extractSection(doc, name);
  if (old !== null) return doc.replace(old, () => marked);
  return `${doc.trimEnd()}\n\n${marked}\n`;
}
