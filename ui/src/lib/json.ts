// Splits pretty-printed JSON into typed tokens, so the view can colour it while every
// character stays text (no markup is ever built from payload strings).

export type TokenKind = "key" | "string" | "number" | "literal" | "punct" | "space";
export interface Token {
  kind: TokenKind;
  text: string;
}

const PATTERN =
  /("(?:\\.|[^"\\])*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])|(\s+)/gy;

export function tokenize(json: string): Token[] {
  const tokens: Token[] = [];
  PATTERN.lastIndex = 0;
  let at = 0;
  while (at < json.length) {
    PATTERN.lastIndex = at;
    const m = PATTERN.exec(json);
    if (!m || m.index !== at) {
      tokens.push({ kind: "punct", text: json[at] });
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

export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "null";
}
