import { describe, expect, it, vi } from "vitest";
import { daysAgo, hoursAgo } from "../testing/clock";
import { about, ago, duration, eventLinks, gateCheck, localTime, outcomeCheck, rollingPassRate, staleWords, streamCheck, streamName } from "./format";

describe("format", () => {
  it("maps outcomes to checks, rejected first", () => {
    expect(outcomeCheck("succeeded")).toBe("passing");
    expect(outcomeCheck("timed_out")).toBe("failing");
    expect(outcomeCheck("canceled")).toBe("failing");
    expect(outcomeCheck("started")).toBe("running");
    expect(outcomeCheck("info")).toBe("neutral");
    expect(outcomeCheck("succeeded", true)).toBe("failing");
  });

  it("a stream with a build running shows as running, whatever its last result", () => {
    expect(streamCheck({ state: "failing", running: true })).toBe("running");
    expect(streamCheck({ state: "failing", running: false })).toBe("failing");
    expect(streamCheck({ state: "passing", running: true })).toBe("running");
    expect(streamCheck({ state: "unknown", running: false })).toBe("neutral");
  });

  it("the gate stays red while a build runs", () => {
    expect(gateCheck({ state: "failing", running: true })).toBe("failing");
    expect(gateCheck({ state: "passing", running: true })).toBe("running");
    expect(gateCheck({ state: "passing", running: false })).toBe("passing");
  });

  it("rough durations for expectations", () => {
    expect(about(12 * 60_000 + 20_000)).toBe("~12m");
    expect(about(20_000)).toBe("~1m");
    expect(about(95 * 60_000)).toBe("~1h 35m");
  });

  it("names streams by name, then id", () => {
    expect(streamName({ profile_name: "App", profile_id: "p1", branch_name: "main", branch_id: "b" })).toBe("App / main");
    expect(streamName({ profile_name: null, profile_id: "p1", branch_name: null, branch_id: null })).toBe("p1");
    expect(streamName({ profile_name: null, profile_id: null, branch_name: null, branch_id: null })).toBe("(no profile)");
  });

  it("durations and relative times", () => {
    expect(duration(45_000)).toBe("45s");
    expect(duration(192_000)).toBe("3m 12s");
    expect(duration(3_840_000)).toBe("1h 04m");
    expect(duration(null)).toBe("");
    const now = new Date("2026-01-01T12:00:00Z");
    expect(ago("2026-01-01T11:59:50Z", now)).toBe("just now");
    expect(ago("2026-01-01T11:55:00Z", now)).toBe("5 min ago");
    expect(ago("2026-01-01T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2025-12-31T12:00:00Z", now)).toBe("yesterday");
    expect(ago("garbage", now)).toBe("");
  });

  it("words a stale start as a question, from the clock's now", () => {
    expect(staleWords(hoursAgo(30))).toBe("running for 30 h?");
    expect(staleWords(hoursAgo(49))).toBe("running for 2 days?");
    expect(staleWords(daysAgo(9))).toBe("running for 9 days?");
    expect(staleWords(null)).toBe("running for a long time?");
  });

  it("offers only http(s) links, detail first", () => {
    const links = eventLinks({
      links: { viewlogs: "https://x/logs", evil: "javascript:alert(1)", detail: "https://x/d", n: 3 },
    });
    expect(links).toEqual([
      { name: "detail", url: "https://x/d" },
      { name: "logs", url: "https://x/logs" },
    ]);
  });

  it("rolling pass rate", () => {
    expect(rollingPassRate(["succeeded", "failed", "succeeded", "warning"], 2)).toEqual([100, 50, 50, 100]);
  });

  it("local times read as toLocaleString's, from one formatter rather than one per call", () => {
    const at = hoursAgo(3);
    const expected = new Date(at).toLocaleString();
    // Each toLocaleString() builds an ICU formatter that WebKit holds outside the JS heap;
    // the dashboard calls this for every outcome dot.
    const perCall = vi.spyOn(Date.prototype, "toLocaleString");
    try {
      expect(localTime(at)).toBe(expected);
      expect(localTime(null)).toBe("");
      expect(localTime("not a date")).toBe("not a date");
      expect(perCall).not.toHaveBeenCalled();
    } finally {
      perCall.mockRestore();
    }
  });
});
