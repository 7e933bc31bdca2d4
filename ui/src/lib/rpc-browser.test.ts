// The browser's transport: rpc() over fetch to the inbox, as the web dashboard uses it (the
// real thing runs in chromium in tests/web.rs; these pin its request and error handling).
import { afterEach, describe, expect, it, vi } from "vitest";
import { CSRF_HEADER, RpcError, SIGNED_OUT, inWindow, rpc } from "./rpc";

afterEach(() => vi.unstubAllGlobals());

/** Stubs fetch with one answer; returns the requests it saw. */
function answer(status: number, body: unknown): { url: string; init: RequestInit }[] {
  const seen: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    seen.push({ url, init });
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  });
  return seen;
}

describe("rpc in a browser", () => {
  it("is not the window", () => {
    expect(inWindow()).toBe(false);
  });

  it("posts the typed request to /api/v1/rpc with the cookie and the CSRF header", async () => {
    const seen = answer(200, { method: "event", result: { id: 7 } });
    const event = await rpc("event", { id: 7 });
    expect(event.id).toBe(7);
    expect(seen).toHaveLength(1);
    expect(seen[0].url).toBe("/api/v1/rpc");
    expect(seen[0].init.method).toBe("POST");
    expect(seen[0].init.credentials).toBe("same-origin");
    expect((seen[0].init.headers as Record<string, string>)[CSRF_HEADER]).toBe("1");
    expect(JSON.parse(seen[0].init.body as string)).toEqual({ method: "event", params: { id: 7 } });
  });

  it("turns the inbox's error into an RpcError of its kind", async () => {
    answer(403, { kind: "forbidden", message: "a read token cannot call secrets" });
    await expect(rpc("settings")).rejects.toEqual(new RpcError("forbidden", "a read token cannot call secrets"));
  });

  it("an answer that is not an API error still says its status", async () => {
    answer(502, undefined);
    await expect(rpc("settings")).rejects.toEqual(new RpcError("unavailable", "the inbox answered HTTP 502"));
  });

  it("an unreachable inbox is unavailable", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(rpc("settings")).rejects.toMatchObject({ kind: "unavailable" });
  });

  it("a 401 says the session is over, so the page goes back to signing in", async () => {
    answer(401, { kind: "unauthorized", message: "sign in again" });
    const signedOut = vi.fn();
    window.addEventListener(SIGNED_OUT, signedOut);
    await expect(rpc("settings")).rejects.toMatchObject({ kind: "unauthorized" });
    window.removeEventListener(SIGNED_OUT, signedOut);
    expect(signedOut).toHaveBeenCalledTimes(1);
  });
});
