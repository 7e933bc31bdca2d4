import { describe, expect, it } from "vitest";
import { fleet, stream } from "../testing/fixtures";
import { attentionFirst, countWords, groupByProfile, latestFailures, naturalOrder, scopeCounts } from "./streams";
import { streamName } from "./format";

describe("streams at scale", () => {
  it("orders names naturally: app2 before app10", () => {
    expect(["app10", "app2", "App1"].sort(naturalOrder)).toEqual(["App1", "app2", "app10"]);
  });

  it("puts failing, then running rows first, each group in natural order", () => {
    const rows = attentionFirst(fleet()).map(streamName);
    expect(rows.slice(0, 4)).toEqual(["app1 / develop", "app1 / main", "app1 / release", "app2 / develop"]);
    expect(rows.indexOf("app2 / main")).toBeLessThan(rows.indexOf("app10 / main"));
    expect(rows.slice(70, 72)).toEqual(["app30 / develop", "app30 / main"]);
    expect(rows.slice(72, 75)).toEqual(["app24 / develop", "app24 / release", "app25 / develop"]);
  });

  it("counts failing and running streams per scope", () => {
    const streams = [...fleet(), stream({ scope: "publish_to_stores", profile_key: "s", branch_key: "" })];
    expect(scopeCounts(streams)).toEqual([
      { scope: "build", failing: 70, running: 2 },
      { scope: "publish_to_stores", failing: 1, running: 0 },
    ]);
  });

  it("picks the most recent failures", () => {
    expect(latestFailures(fleet(), 5).map(streamName)).toEqual([
      "app24 / main", "app23 / release", "app23 / develop", "app23 / main", "app22 / release",
    ]);
  });

  it("groups builds per profile, worst profiles first, with the worst state and counts", () => {
    const groups = groupByProfile(fleet());
    expect(groups).toHaveLength(30);
    expect(groups.slice(0, 3).map((g) => g.name)).toEqual(["app1", "app2", "app3"]);
    const app24 = groups.find((g) => g.name === "app24");
    expect(app24?.worst).toBe("failing");
    expect(app24?.counts).toEqual({ failing: 1, passing: 2 });
    expect(countWords(app24?.counts ?? {})).toBe("1 failing, 2 passing");
    const app30 = groups.find((g) => g.name === "app30");
    expect(app30?.worst).toBe("running");
    expect(app30?.streams.map((s) => s.branch_name)).toEqual(["develop", "main", "release"]);
    expect(groups.map((g) => g.name).indexOf("app30")).toBe(24);
    expect(groups.at(-1)?.name).toBe("app29");
  });
});
