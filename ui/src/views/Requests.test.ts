import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { RequestRecord } from "../bindings/RequestRecord";
import { requestRecord } from "../testing/fixtures";
import { app } from "../lib/state.svelte";
import Requests from "./Requests.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
  app.role = "admin";
});

function serve(one: RequestRecord, failFirst: "requests" | "request" | null = null) {
  const calls: Record<string, number> = { requests: 0, request: 0 };
  mockIPC((_cmd, args) => {
    const method = (args as { request: { method: "requests" | "request" } }).request.method;
    calls[method] += 1;
    if (method === failFirst && calls[method] === 1) throw { kind: "unavailable", message: `${method} failed` };
    return method === "requests" ? { method, result: [one] } : { method, result: one };
  });
  return calls;
}

describe("Requests", () => {
  it("shows a failed list load with Retry, and retries", async () => {
    const calls = serve(requestRecord(), "requests");
    render(Requests);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("requests failed");
    expect(screen.queryByText(/No requests yet/)).toBeNull();
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByTestId("request-row")).toBeTruthy();
    expect(calls.requests).toBe(2);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows a failed detail load with Retry, and retries", async () => {
    serve(requestRecord(), "request");
    render(Requests);
    const row = await screen.findByTestId("request-row");
    await fireEvent.click(within(row).getByRole("button"));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("request failed");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText(/Request 1:/)).toBeTruthy();
  });

  it("isolates headers and body and shows bidi controls in them", async () => {
    serve(requestRecord({
      headers: [["x-note", "ok \u202Egnp.exe"]],
      body: '{"title":"Build \u202Edeliaf"}',
      path: "/hooks/ci\u2066x",
    }));
    render(Requests);
    await fireEvent.click(within(await screen.findByTestId("request-row")).getByRole("button"));
    const body = await screen.findByTestId("request-body");
    expect(body.textContent).toBe('{"title":"Build ⟨U+202E⟩deliaf"}');
    expect(body.classList.contains("payload")).toBe(true);
    const header = screen.getByText("gnp.exe", { exact: false });
    expect(header.closest("bdi")).not.toBeNull();
    expect(header.closest("td")?.textContent).toBe("ok ⟨U+202E⟩gnp.exe");
    expect(screen.getByText(/Request 1:/).textContent).toContain("/hooks/ci⟨U+2066⟩x");
  });

  it("says when a body was cut to its first 64 KiB", async () => {
    serve(requestRecord({ verdict: "bad_signature", status_code: 401, body_size: 5_000_000, body: "{", body_truncated: true }));
    render(Requests);
    await fireEvent.click(within(await screen.findByTestId("request-row")).getByRole("button"));
    expect((await screen.findByTestId("body-truncated")).textContent).toContain("first 64 KiB");
  });

  it("offers accept and replay to an admin only", async () => {
    const stale = requestRecord({ verdict: "stale", status_code: 400, event_id: null });
    for (const role of ["admin", "read"] as const) {
      app.role = role;
      serve(stale);
      render(Requests);
      await fireEvent.click(within(await screen.findByTestId("request-row")).getByRole("button"));
      await screen.findByText(/Request 1:/);
      expect(screen.queryByTestId("accept") !== null).toBe(role === "admin");
      cleanup();
      clearMocks();
    }
  });
});
