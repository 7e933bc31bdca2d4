import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ApiRequest } from "../bindings/ApiRequest";
import { overview, stream } from "../testing/fixtures";
import Charts from "./Charts.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Charts", () => {
  it("shows a failed overview load and retries", async () => {
    let calls = 0;
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "build_runs") return { method: "build_runs", result: [] };
      calls += 1;
      if (calls === 1) throw { kind: "unavailable", message: "overview failed" };
      return { method: "overview", result: overview([stream()]) };
    });
    render(Charts);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("overview failed");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("No finished builds of this profile yet.")).toBeTruthy();
  });

  it("shows a failed build history load and retries", async () => {
    let calls = 0;
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "overview") return { method: "overview", result: overview([stream()]) };
      calls += 1;
      if (calls === 1) throw { kind: "not_found", message: "no such profile" };
      return { method: "build_runs", result: [] };
    });
    render(Charts);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("no such profile");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("No finished builds of this profile yet.")).toBeTruthy();
  });

  it("shows bidi controls in profile names, which an option cannot isolate", async () => {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "build_runs") return { method: "build_runs", result: [] };
      return { method: "overview", result: overview([stream({ profile_name: "app\u202Eabc" })]) };
    });
    render(Charts);
    const option = await screen.findByRole("option");
    expect(option.textContent).toBe("app⟨U+202E⟩abc");
  });
});

describe("Charts across senders", () => {
  it("offers GitHub's workflows and GitLab's projects beside Appcircle's profiles, saying whose", async () => {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "build_runs") return { method: "build_runs", result: [] };
      return {
        method: "overview",
        result: overview([
          stream(),
          stream({ provider: "github", profile_key: "github:acme/app/ci.yml", profile_name: "acme/app · CI" }),
          stream({ provider: "gitlab", profile_key: "gitlab:15", profile_name: "acme/backend" }),
        ]),
      };
    });
    render(Charts);
    const options = [...(await screen.findByRole("combobox")).querySelectorAll("option")].map((o) => o.textContent);
    expect(options).toEqual(["acme/app · CI (GitHub Actions)", "acme/backend (GitLab CI)", "App"]);
  });
});
