import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce } from "./debounce";

// Timers faked too: testing/setup.ts fakes only Date (at the run's fixed now), and a clock
// installed over it keeps that narrower set, so this one is installed afresh.
beforeEach(() => {
  const now = Date.now();
  vi.useRealTimers();
  vi.useFakeTimers({ now, toFake: ["setTimeout", "clearTimeout", "Date"] });
});
afterEach(() => vi.useRealTimers());

describe("debounce", () => {
  it("calls once, after the calls stop for the delay", () => {
    const fn = vi.fn();
    const later = debounce(fn, 250);
    later();
    vi.advanceTimersByTime(200);
    later();
    vi.advanceTimersByTime(200);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(50);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("can be cancelled, e.g. when the view goes away", () => {
    const fn = vi.fn();
    const later = debounce(fn, 250);
    later();
    later.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
  });
});
