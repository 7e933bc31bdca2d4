// @vitest-environment node
/// <reference types="node" />
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** One entry of Vite's build manifest (https://vite.dev/guide/backend-integration). */
type Entry = { file: string; src?: string; isEntry?: boolean; imports?: string[]; dynamicImports?: string[] };

/** The front end as `vite build` makes it (in a process of its own), by its manifest. */
function manifest(): Record<string, Entry> {
  const out = mkdtempSync(join(tmpdir(), "gatehouse-ui-"));
  try {
    // Without this run's test settings (NODE_ENV=test, VITEST...): a build as `npm run build` makes it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_ENV" && !k.startsWith("VITEST")));
    execFileSync("npx", ["vite", "build", "--logLevel", "silent", "--manifest", "--outDir", out], { stdio: "inherit", env });
    return JSON.parse(readFileSync(join(out, ".vite", "manifest.json"), "utf8")) as Record<string, Entry>;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

describe("the bundle", () => {
  it("loads every view but the dashboard, and Chart.js, only when opened", () => {
    const chunks = manifest();
    const entry = Object.entries(chunks).find(([, c]) => c.isEntry);
    expect(entry).toBeDefined();
    if (!entry) return;
    // What the page parses at start: the entry and what it imports statically, transitively.
    const atStart = new Set<string>();
    const visit = (key: string) => {
      if (atStart.has(key)) return;
      atStart.add(key);
      for (const next of chunks[key]?.imports ?? []) visit(next);
    };
    visit(entry[0]);
    const starts = (path: string) => [...atStart].some((key) => key.includes(path));
    expect(entry[0]).toBe("index.html");
    for (const later of ["History", "Requests", "Endpoints", "Charts", "Settings", "Radiator"]) {
      expect(starts(`src/views/${later}.svelte`), later).toBe(false);
      expect(entry[1].dynamicImports ?? [], later).toContain(`src/views/${later}.svelte`);
    }
    // Chart.js would be a chunk of its own ("_chart-…js") if anything at start imported it.
    expect([...atStart].filter((key) => /chart/i.test(key))).toEqual([]);
  }, 60_000);
});
