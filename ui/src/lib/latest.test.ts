import { describe, expect, it } from "vitest";
import { deferred } from "../testing/fixtures";
import { RpcError } from "./rpc";
import { LatestAnswer } from "./latest.svelte";

describe("LatestAnswer", () => {
  it("keeps only the answer to the latest request, whatever order answers arrive in", async () => {
    const latest = new LatestAnswer<string>();
    const older = deferred<string>();
    const newer = deferred<string>();
    const first = latest.run(() => older.promise);
    const second = latest.run(() => newer.promise);
    newer.resolve("newer");
    await second;
    older.resolve("older");
    await first;
    expect(latest.value).toBe("newer");
  });

  it("an older failure does not hide a newer answer", async () => {
    const latest = new LatestAnswer<string>();
    const older = deferred<string>();
    const first = latest.run(() => older.promise);
    await latest.run(async () => "fresh");
    older.reject(new RpcError("unavailable", "gone"));
    await first;
    expect(latest.error).toBeNull();
    expect(latest.value).toBe("fresh");
  });

  it("records the failure, never rejects, and retries the same request", async () => {
    const latest = new LatestAnswer<number>();
    let calls = 0;
    await latest.run(async () => {
      calls += 1;
      if (calls === 1) throw new RpcError("unavailable", "database is locked");
      return 42;
    });
    expect(latest.error).toBe("database is locked");
    expect(latest.value).toBeNull();
    await latest.retry();
    expect(latest.error).toBeNull();
    expect(latest.value).toBe(42);
  });

  it("turns thrown non-errors into a message", async () => {
    const latest = new LatestAnswer<number>();
    await latest.run(() => Promise.reject("no window"));
    expect(latest.error).toBe("no window");
  });
});
