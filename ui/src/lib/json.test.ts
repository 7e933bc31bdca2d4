import { describe, expect, it } from "vitest";
import { indent, tokenize } from "./json";

describe("json tokens", () => {
  it("round-trips every character and classifies keys and values", () => {
    const text = '{"title": "Build <b>Failed</b>", "n": -1.5e3, "ok": true, "none": null, "list": [1, "x"]}';
    const tokens = tokenize(text);
    expect(tokens.map((t) => t.text).join("")).toBe(text);
    expect(tokens.find((t) => t.kind === "key")?.text).toBe('"title"');
    expect(tokens.some((t) => t.kind === "string" && t.text.includes("<b>"))).toBe(true);
    expect(tokens.some((t) => t.kind === "number" && t.text === "-1.5e3")).toBe(true);
    expect(tokens.filter((t) => t.kind === "literal").map((t) => t.text)).toEqual(["true", "null"]);
  });

  it("handles escaped quotes inside strings", () => {
    const tokens = tokenize('{"a": "say \\"hi\\""}');
    expect(tokens.find((t) => t.kind === "string")?.text).toBe('"say \\"hi\\""');
  });

  it("keeps numbers exactly as written, however large", () => {
    const text = '{"buildId":12345678901234567890,"ratio":1.50}';
    const numbers = tokenize(text).filter((t) => t.kind === "number").map((t) => t.text);
    expect(numbers).toEqual(["12345678901234567890", "1.50"]);
  });

  it("keeps text that is not JSON, in few tokens", () => {
    const text = "not json at all";
    const tokens = tokenize(text);
    expect(tokens.map((t) => t.text).join("")).toBe(text);
    expect(tokens.length).toBeLessThan(8);
  });

  it("indents by re-spacing tokens, never re-serialising values", () => {
    const text = '{"id":12345678901234567890,"a":[1,{"b":"x, y: {z}"}],"e":{}}';
    expect(indent(text)).toBe(
      '{\n  "id": 12345678901234567890,\n  "a": [\n    1,\n    {\n      "b": "x, y: {z}"\n    }\n  ],\n  "e": {}\n}',
    );
  });
});
