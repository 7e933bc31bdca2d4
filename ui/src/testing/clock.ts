// The tests' clock: a fixed date for the whole run (testing/setup.ts sets it as the fake
// Date), and times as offsets from it, so that no fixture names a calendar date.

/** The run's "now": when the run began (on the machine's clock, which `make test` also moves). */
export const TEST_NOW: Date = new Date();

const MINUTE = 60_000;

/** `minutes` before the (fake) now, as the backend writes times. */
export function minutesAgo(minutes: number): string {
  return new Date(Date.now() - minutes * MINUTE).toISOString();
}

export function hoursAgo(hours: number): string {
  return minutesAgo(hours * 60);
}

export function daysAgo(days: number): string {
  return minutesAgo(days * 24 * 60);
}
