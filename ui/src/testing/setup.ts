// Every test file runs on a fixed date: Vitest's fake Date, set before each test to the
// time the run began, so that "5 min ago" is true for the whole test and fixtures are
// offsets from it (testing/clock.ts). Only Date is faked: timers, promises and animation
// frames run as they do in the app. `make test` runs the suite again under faketime (the
// run begins 400 days on, then just after a leap day), so a fixture that names a calendar
// date fails on some other day.
import { afterEach, beforeEach, vi } from "vitest";
import { TEST_NOW } from "./clock";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(TEST_NOW);
});

afterEach(() => {
  vi.useRealTimers();
});
