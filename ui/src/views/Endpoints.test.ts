import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ApiRequest } from "../bindings/ApiRequest";
import { endpointInfo } from "../testing/fixtures";
import { app } from "../lib/state.svelte";
import Endpoints from "./Endpoints.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
  app.role = "admin";
});

const SAMPLES = [
  { provider: "appcircle" as const, names: ["build-succeeded", "build-failed"] },
  { provider: "github" as const, names: ["workflow-succeeded", "workflow-failed", "ping"] },
  { provider: "gitlab" as const, names: ["pipeline-succeeded"] },
];

function serve(baseUrl: string | null) {
  mockIPC((_cmd, args) => {
    const request = (args as { request: ApiRequest }).request;
    if (request.method === "create_endpoint") {
      return {
        method: "create_endpoint",
        result: {
          endpoint: endpointInfo({ id: 2, name: request.params.name, provider: request.params.provider ?? "appcircle" }),
          url: baseUrl && `${baseUrl}/hooks/${request.params.name}`,
          secret: "s3cret",
        },
      };
    }
    return { method: "endpoints", result: { base_url: baseUrl, endpoints: [endpointInfo()], samples: SAMPLES } };
  });
}

async function create(name: string) {
  await fireEvent.input(screen.getByTestId("endpoint-name"), { target: { value: name } });
  await fireEvent.click(screen.getByTestId("endpoint-create"));
  return screen.findByTestId("endpoint-created");
}

describe("Endpoints", () => {
  it("gives each endpoint its URL while listening", async () => {
    serve("http://127.0.0.1:8473");
    render(Endpoints);
    const ep = await screen.findByTestId("endpoint");
    expect(within(ep).getByTestId("endpoint-url").textContent).toBe("http://127.0.0.1:8473/hooks/ci");
    const created = await create("web");
    expect(within(created).getByTestId("created-url").textContent).toBe("http://127.0.0.1:8473/hooks/web");
  });

  it("says not listening instead of a URL when nothing listens", async () => {
    serve(null);
    render(Endpoints);
    const ep = await screen.findByTestId("endpoint");
    expect(ep.textContent).not.toContain("null");
    expect(ep.textContent).not.toContain("http");
    expect(within(ep).getByTestId("endpoint-url").textContent).toContain("not listening");
    expect(within(ep).queryByRole("button", { name: "Copy" })).toBeNull();
    const created = await create("web");
    expect(created.textContent).not.toContain("null");
    expect(within(created).getByTestId("created-url").textContent).toContain("not listening");
  });

  it("shows a load failure and retries", async () => {
    let calls = 0;
    mockIPC(() => {
      calls += 1;
      if (calls === 1) throw { kind: "unavailable", message: "store closed" };
      return { method: "endpoints", result: { base_url: null, endpoints: [endpointInfo()], samples: SAMPLES } };
    });
    render(Endpoints);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("store closed");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByTestId("endpoint")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("isolates endpoint names", async () => {
    mockIPC(() => ({ method: "endpoints", result: { base_url: null, endpoints: [endpointInfo({ name: "ci\u202Eabc" })], samples: SAMPLES } }));
    render(Endpoints);
    const ep = await screen.findByTestId("endpoint");
    const heading = within(ep).getByRole("heading");
    expect(heading.textContent).toBe("ci⟨U+202E⟩abc");
    expect(heading.querySelector("bdi")).not.toBeNull();
  });

  it("shows a read-only session no control that changes or reveals anything", async () => {
    app.role = "read";
    serve("http://127.0.0.1:8473");
    render(Endpoints);
    const ep = await screen.findByTestId("endpoint");
    expect(within(ep).getByTestId("endpoint-url").textContent).toBe("http://127.0.0.1:8473/hooks/ci");
    expect(screen.queryByTestId("endpoint-create")).toBeNull();
    expect(screen.queryByTestId("endpoint-admin")).toBeNull();
    for (const label of ["Rename", "Delete", "Reveal secret", "Rotate", "Send a test delivery"]) {
      expect(screen.queryByRole("button", { name: label })).toBeNull();
    }
  });
});

describe("Endpoints for GitHub and GitLab", () => {
  it("creates an endpoint for the chosen sender and shows that sender's set-up steps", async () => {
    const calls: ApiRequest[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "create_endpoint") {
        return {
          method: "create_endpoint",
          result: { endpoint: endpointInfo({ id: 2, name: request.params.name, provider: request.params.provider ?? "appcircle" }), url: null, secret: "s3cret" },
        };
      }
      return { method: "endpoints", result: { base_url: null, endpoints: [endpointInfo({ provider: "github", name: "backend" })], samples: SAMPLES } };
    });
    render(Endpoints);
    await fireEvent.change(screen.getByTestId("endpoint-provider"), { target: { value: "github" } });
    const created = await create("backend");
    expect(calls.find((c) => c.method === "create_endpoint")).toMatchObject({ params: { name: "backend", provider: "github" } });
    expect(within(created).getByTestId("created-setup").textContent).toContain("Workflow runs");
    const ep = await screen.findByTestId("endpoint");
    expect(within(ep).getByTestId("endpoint-provider-label").textContent).toBe("GitHub Actions");
    const options = [...within(ep).getByTestId("send-sample").querySelectorAll("option")].map((o) => o.value);
    expect(options).toEqual(["workflow-succeeded", "workflow-failed", "ping"]);
  });
});
