import { describe, expect, it } from "vitest";
import { pretty, tokenize } from "./json";

describe("json tokens", () => {
  it("round-trips every character and classifies keys and values", () => {
    const text = pretty({ title: "Build <b>Failed</b>", n: -1.5e3, ok: true, none: null, list: [1, "x"] });
    const tokens = tokenize(text);
    expect(tokens.map((t) => t.text).join("")).toBe(text);
    expect(tokens.find((t) => t.kind === "key")?.text).toBe('"title"');
    expect(tokens.some((t) => t.kind === "string" && t.text.includes("<b>"))).toBe(true);
    expect(tokens.some((t) => t.kind === "number" && t.text === "-1500")).toBe(true);
    expect(tokens.filter((t) => t.kind === "literal").map((t) => t.text)).toEqual(["true", "null"]);
  });

  it("handles escaped quotes inside strings", () => {
    const tokens = tokenize('{"a": "say \\"hi\\""}');
    expect(tokens.find((t) => t.kind === "string")?.text).toBe('"say \\"hi\\""');
  });
});
