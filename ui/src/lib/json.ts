// Splits JSON text into typed tokens, so the view can colour it while every character stays
// text (no markup is ever built from payload strings). It works over the text as received:
// nothing is parsed and re-serialised, so 12345678901234567890 stays exactly that (a parse
// would round it to 12345678901234567000).

export type TokenKind = "key" | "string" | "number" | "literal" | "punct" | "space" | "other";
export interface Token {
  kind: TokenKind;
  text: string;
}

const PATTERN =
  /("(?:\\.|[^"\\])*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])|(\s+)/y;

export function tokenize(json: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < json.length) {
    PATTERN.lastIndex = at;
    const m = PATTERN.exec(json);
    if (!m) {
      // Not JSON here: extend the previous stray run rather than add a token per character.
      const last = tokens.at(-1);
      if (last?.kind === "other") last.text += json[at];
      else tokens.push({ kind: "other", text: json[at] });
      at += 1;
      continue;
    }
    if (m[1] !== undefined) {
      tokens.push({ kind: m[2] ? "key" : "string", text: m[1] });
      if (m[2]) tokens.push({ kind: "punct", text: m[2] });
    } else if (m[3] !== undefined) tokens.push({ kind: "number", text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: "literal", text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: "punct", text: m[5] });
    else tokens.push({ kind: "space", text: m[6] });
    at = PATTERN.lastIndex;
  }
  return tokens;
}

/**
 * The same JSON laid out two spaces per level, for reading. Only whitespace between tokens
 * changes; every key, string and number keeps its original spelling.
 */
export function indent(json: string): string {
  const tokens = tokenize(json).filter((t) => t.kind !== "space");
  let out = "";
  let depth = 0;
  // Malformed text may close more than it opens; never indent below zero.
  const newline = () => "\n" + "  ".repeat(Math.max(0, depth));
  tokens.forEach((t, i) => {
    const text = t.text.trim();
    const next = tokens[i + 1]?.text.trim();
    if (text === "{" || text === "[") {
      const empty = next === (text === "{" ? "}" : "]");
      out += text;
      depth += 1;
      if (!empty) out += newline();
    } else if (text === "}" || text === "]") {
      depth -= 1;
      const prev = tokens[i - 1]?.text.trim();
      out += (prev === "{" || prev === "[" ? "" : newline()) + text;
    } else if (text === ",") out += "," + newline();
    else if (text === ":") out += ": ";
    else out += t.text;
  });
  return out;
}
