// A small XML parser for tests: checks that a document is well-formed (one root, tags
// nested and closed, attributes quoted and not repeated, only the five predefined or numeric
// entities, no stray < or &) and returns its element tree. Enough for the SVG we write;
// no DTDs, CDATA or namespaces beyond reading xmlns as an attribute.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (entities decoded), children's text excluded. */
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;

export function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    const line = src.slice(0, i).split("\n").length;
    throw new Error(`XML not well-formed at line ${line}: ${msg}`);
  };
  const decode = (s: string): string => {
    if (s.includes("<")) fail(`"<" in text or attribute value`);
    return s.replace(/&([^;]*);?/g, (m, ent: string) => {
      if (!m.endsWith(";")) fail(`bare "&" in ${JSON.stringify(s.slice(0, 40))}`);
      const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
      if (ent in named) return named[ent] as string;
      const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ent);
      if (num === null) return fail(`unknown entity &${ent};`);
      const v = (num[1] as string).startsWith("x")
        ? parseInt((num[1] as string).slice(1), 16)
        : parseInt(num[1] as string, 10);
      return String.fromCodePoint(v);
    });
  };
  const skipMisc = (): void => {
    for (;;) {
      while (i < src.length && /\s/.test(src[i] as string)) i++;
      if (src.startsWith("<?", i)) {
        const end = src.indexOf("?>", i);
        if (end < 0) fail("unterminated <?");
        i = end + 2;
      } else if (src.startsWith("<!--", i)) {
        const end = src.indexOf("-->", i);
        if (end < 0) fail("unterminated comment");
        i = end + 3;
      } else return;
    }
  };
  const element = (): XmlElement => {
    if (src[i] !== "<") fail(`expected "<", got ${JSON.stringify(src.slice(i, i + 20))}`);
    i++;
    const m = NAME.exec(src.slice(i));
    if (m === null) return fail("expected an element name");
    const name = m[0];
    i += name.length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const ws = /^\s*/.exec(src.slice(i))?.[0].length ?? 0;
      i += ws;
      if (src.startsWith("/>", i)) {
        i += 2;
        return { name, attrs, children: [], text: "" };
      }
      if (src[i] === ">") {
        i++;
        break;
      }
      if (ws === 0) fail(`expected whitespace before an attribute of <${name}>`);
      const a = NAME.exec(src.slice(i));
      if (a === null) return fail(`bad attribute in <${name}>`);
      i += a[0].length;
      if (src[i] !== "=") fail(`attribute ${a[0]} of <${name}> has no value`);
      i++;
      const q = src[i];
      if (q !== '"' && q !== "'") fail(`attribute ${a[0]} of <${name}> is not quoted`);
      const end = src.indexOf(q as string, i + 1);
      if (end < 0) fail(`unterminated attribute ${a[0]}`);
      if (a[0] in attrs) fail(`attribute ${a[0]} repeated in <${name}>`);
      attrs[a[0]] = decode(src.slice(i + 1, end));
      i = end + 1;
    }
    const children: XmlElement[] = [];
    let text = "";
    for (;;) {
      const lt = src.indexOf("<", i);
      if (lt < 0) fail(`<${name}> is never closed`);
      text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith("</", i)) {
        const close = `</${name}`;
        if (!src.startsWith(close, i)) fail(`expected ${close}>, got ${JSON.stringify(src.slice(i, i + 20))}`);
        i += close.length;
        while (/\s/.test(src[i] ?? "")) i++;
        if (src[i] !== ">") fail(`bad closing tag of <${name}>`);
        i++;
        return { name, attrs, children, text };
      }
      if (src.startsWith("<!--", i)) {
        const end = src.indexOf("-->", i);
        if (end < 0) fail("unterminated comment");
        i = end + 3;
        continue;
      }
      children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== src.length) fail("content after the root element");
  return root;
}

/** Every element below (and including) `root`, depth first. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
