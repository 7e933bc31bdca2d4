import { describe, expect, it } from "vitest";
import { visibleControls, withVisibleControls } from "./text";

describe("visibleControls", () => {
  it("leaves ordinary text as one plain piece", () => {
    expect(visibleControls("App / develop")).toEqual([{ text: "App / develop", control: null }]);
    expect(visibleControls("")).toEqual([]);
  });

  it("turns every bidi control into a visible marker, keeping the text around it", () => {
    const spoofed = "Build \u202Edeliaf\u202C ok";
    expect(visibleControls(spoofed)).toEqual([
      { text: "Build ", control: null },
      { text: "⟨U+202E⟩", control: "right-to-left override" },
      { text: "deliaf", control: null },
      { text: "⟨U+202C⟩", control: "pop directional formatting" },
      { text: " ok", control: null },
    ]);
  });

  it("covers embeddings, overrides, isolates and marks", () => {
    const all = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C";
    const pieces = visibleControls(all);
    expect(pieces).toHaveLength(12);
    expect(pieces.every((p) => p.control !== null)).toBe(true);
    expect(pieces.map((p) => p.text).join("")).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/);
  });

  it("as one string, for attributes and dialogs that cannot hold markup", () => {
    expect(withVisibleControls("a\u2067b")).toBe("a⟨U+2067⟩b");
  });
});
