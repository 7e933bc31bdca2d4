import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { AccountStatus } from "../bindings/AccountStatus";
import type { ApiRequest } from "../bindings/ApiRequest";
import type { CiAccountStatus } from "../bindings/CiAccountStatus";
import type { ListenerStatus } from "../bindings/ListenerStatus";
import type { Settings as SettingsRecord } from "../bindings/Settings";
import type { InboxStatus } from "../bindings/InboxStatus";
import { accountStatus, inboxStatus, LISTENER_OFF, LISTENING, overview, PORT_TAKEN, settings } from "../testing/fixtures";
import Settings from "./Settings.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

function serve(listener: ListenerStatus, saved: SettingsRecord[] = []) {
  mockIPC((_cmd, args) => {
    const request = (args as { request: ApiRequest }).request;
    if (request.method === "overview") return { method: "overview", result: overview([], { listener }) };
    if (request.method === "save_settings") {
      saved.push(request.params.settings);
      return { method: "save_settings", result: request.params.settings };
    }
    return { method: "settings", result: settings() };
  });
}

describe("Settings", () => {
  it("edits the required-checks rules and the commit-ready notification, and saves them", async () => {
    const saved: SettingsRecord[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "overview") return { method: "overview", result: overview([]) };
      if (request.method === "save_settings") {
        saved.push(request.params.settings);
        return { method: "save_settings", result: request.params.settings };
      }
      return { method: "settings", result: settings({ required_checks: [{ branch: "main", checks: ["build: App"] }] }) };
    });
    render(Settings);
    const branches = await screen.findAllByTestId("required-branch");
    expect((branches[0] as HTMLInputElement).value).toBe("main");
    expect((screen.getAllByTestId("required-list")[0] as HTMLTextAreaElement).value).toBe("build: App");
    await fireEvent.click(screen.getByTestId("required-add"));
    await fireEvent.input(screen.getAllByTestId("required-branch")[1], { target: { value: " release/* " } });
    await fireEvent.input(screen.getAllByTestId("required-list")[1], {
      target: { value: "build: Acme iOS\n\n github: acme/app · CI \npublish_to_stores: Acme iOS" },
    });
    await fireEvent.click(screen.getByTestId("commit-ready"));
    await fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0].required_checks).toEqual([
      { branch: "main", checks: ["build: App"] },
      { branch: "release/*", checks: ["build: Acme iOS", "github: acme/app · CI", "publish_to_stores: Acme iOS"] },
    ]);
    expect(saved[0].notifications.commit_ready).toBe(false);
  });

  it("shows a load failure with Retry instead of Loading forever, and retries", async () => {
    let calls = 0;
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "overview") return { method: "overview", result: overview([]) };
      calls += 1;
      if (calls === 1) throw { kind: "unavailable", message: "settings unreadable" };
      return { method: "settings", result: settings() };
    });
    render(Settings);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("settings unreadable");
    expect(screen.queryByText("Loading…")).toBeNull();
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByTestId("settings-listen")).toBeTruthy();
  });

  it("shows where it listens, beside the listen field", async () => {
    serve(LISTENING);
    render(Settings);
    const status = await screen.findByTestId("listener-status");
    expect(status.textContent).toContain("Listening on http://127.0.0.1:8473");
  });

  it("says it is not listening, with the OS error and the hint", async () => {
    serve(PORT_TAKEN);
    render(Settings);
    const status = await screen.findByTestId("listener-status");
    expect(status.textContent).toContain("Not listening on 127.0.0.1:8473");
    expect(status.textContent).toContain("Address already in use (os error 98)");
    expect(status.textContent).toContain("choose another port in Settings");
  });

  it("edits how long rejected requests are kept", async () => {
    const saved: SettingsRecord[] = [];
    serve(LISTENING, saved);
    render(Settings);
    const days = await screen.findByLabelText(/Keep rejected requests for/);
    expect((days as HTMLInputElement).value).toBe("30");
    await fireEvent.input(days, { target: { value: "7" } });
    await fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0].rejected_retention_days).toBe(7);
    await fireEvent.click(screen.getByLabelText(/Delete rejected requests/));
    await fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(saved).toHaveLength(2));
    expect(saved[1].rejected_retention_days).toBeNull();
  });
});

describe("Settings: where builds come from", () => {
  function serveInbox(inbox: InboxStatus | null, calls: ApiRequest[]) {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "overview") return { method: "overview", result: overview([], { listener: LISTENER_OFF, inbox }) };
      if (request.method === "save_settings") return { method: "save_settings", result: request.params.settings };
      if (request.method === "save_inbox_token") return { method: "save_inbox_token", result: { place: "keyring" } };
      return { method: "settings", result: settings() };
    });
  }

  it("follows an inbox: the token is saved apart from the settings, first, and never shown again", async () => {
    const calls: ApiRequest[] = [];
    serveInbox(null, calls);
    render(Settings);
    await fireEvent.click(await screen.findByLabelText(/An inbox/));
    expect(screen.getByTestId("token-place").textContent).toContain("No token saved for this inbox yet");
    await fireEvent.input(screen.getByTestId("settings-inbox-url"), { target: { value: " https://ci.example.com " } });
    const token = screen.getByTestId("settings-inbox-token") as HTMLInputElement;
    expect(token.type).toBe("password");
    await fireEvent.input(token, { target: { value: "gh_inbox_" + "ab".repeat(32) } });
    await fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.some((c) => c.method === "save_settings")).toBe(true));
    const saves = calls.filter((c) => c.method === "save_inbox_token" || c.method === "save_settings");
    expect(saves.map((c) => c.method)).toEqual(["save_inbox_token", "save_settings"]);
    expect(saves[0]).toEqual({
      method: "save_inbox_token",
      params: { url: "https://ci.example.com", token: "gh_inbox_" + "ab".repeat(32) },
    });
    const saved = saves[1] as Extract<ApiRequest, { method: "save_settings" }>;
    expect(saved.params.settings.source).toBe("inbox");
    expect(saved.params.settings.inbox_url).toBe("https://ci.example.com");
    expect(saved.params.settings).not.toHaveProperty("token");
    expect(token.value).toBe("");
  });

  it("says where the token is kept: the keyring, or the database and why", async () => {
    mockSource("inbox");
    render(Settings);
    const place = await screen.findByTestId("token-place");
    await waitFor(() => expect(place.textContent).toContain("kept in Gatehouse's database"));
    expect(place.textContent).toContain("no D-Bus session bus");
    expect(screen.getByTestId("listener-status").textContent).toContain("Off: builds come from the inbox");
  });
});

/** Serves settings whose source is `source`, keeping the rest of the mock. */
function mockSource(source: SettingsRecord["source"]) {
  const inner = settings({ source, inbox_url: "https://ci.example.com" });
  mockIPC((_cmd, args) => {
    const request = (args as { request: ApiRequest }).request;
    if (request.method === "overview") {
      return {
        method: "overview",
        result: overview([], {
          listener: LISTENER_OFF,
          inbox: inboxStatus({ token: { place: "database", why: "no D-Bus session bus, so no Secret Service" } }),
        }),
      };
    }
    return { method: "settings", result: inner };
  });
}

describe("Settings: the Appcircle account", () => {
  function serveAccount(account: AccountStatus | null, calls: ApiRequest[]) {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "overview") return { method: "overview", result: overview([], { account }) };
      if (request.method === "connect_account") return { method: "connect_account", result: accountStatus() };
      if (request.method === "disconnect_account") return { method: "disconnect_account", result: { ok: true } };
      return { method: "settings", result: settings() };
    });
  }

  it("connects with an API key: the secret is a password field, sent once and cleared", async () => {
    const calls: ApiRequest[] = [];
    serveAccount(null, calls);
    render(Settings);
    const section = await screen.findByTestId("settings-account");
    await fireEvent.input(within(section).getByTestId("account-name"), { target: { value: " ci-bot " } });
    const secret = within(section).getByTestId("account-secret") as HTMLInputElement;
    expect(secret.type).toBe("password");
    await fireEvent.input(secret, { target: { value: "s3cret" } });
    await fireEvent.input(within(section).getByTestId("account-api-host"), { target: { value: "https://api.appcircle.example" } });
    await fireEvent.click(within(section).getByTestId("account-connect"));
    await waitFor(() => expect(calls.some((c) => c.method === "connect_account")).toBe(true));
    expect(calls.find((c) => c.method === "connect_account")).toEqual({
      method: "connect_account",
      params: {
        connection: {
          api_host: "https://api.appcircle.example", auth_host: null,
          key: { kind: "api_key", name: "ci-bot", organization: null }, secret: "s3cret",
        },
      },
    });
    await waitFor(() => expect(secret.value).toBe(""));
  });

  it("shows a connected account, where its key is kept, and disconnects", async () => {
    const calls: ApiRequest[] = [];
    serveAccount(accountStatus({ key_place: { place: "database", why: "no D-Bus session bus, so no Secret Service" } }), calls);
    render(Settings);
    const connected = await screen.findByTestId("account-connected");
    expect(connected.textContent).toContain("gatehouse");
    expect(screen.getByTestId("account-key-place").textContent).toContain("no D-Bus session bus");
    await fireEvent.click(screen.getByTestId("account-disconnect"));
    await waitFor(() => expect(calls.some((c) => c.method === "disconnect_account")).toBe(true));
  });
});

describe("Settings: GitHub Actions with a token", () => {
  const github = (): CiAccountStatus => ({
    id: "github https://api.github.com", name: "GitHub account", provider: "github",
    api_host: "https://api.github.com", repos: ["acme/app", "acme/api"],
    token_place: { place: "database", why: "no D-Bus session bus, so no Secret Service" },
    sync: { last_attempt: null, last_success: null, error: "GitHub refused the token (HTTP 401)", events: 0, requests: 1 },
    syncing: false,
  });

  function serve(accounts: CiAccountStatus[], calls: ApiRequest[]) {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "overview") return { method: "overview", result: overview([], { ci_accounts: accounts }) };
      if (request.method === "connect_ci_account") return { method: "connect_ci_account", result: github() };
      if (request.method === "disconnect_ci_account") return { method: "disconnect_ci_account", result: { ok: true } };
      if (request.method === "sync_ci_account") return { method: "sync_ci_account", result: { events: 2, event_ids: [1, 2], known: 0, requests: 1 } };
      return { method: "settings", result: settings() };
    });
  }

  it("connects with a token and repositories: the token is a password field, sent once and cleared", async () => {
    const calls: ApiRequest[] = [];
    serve([], calls);
    render(Settings);
    const section = await screen.findByTestId("settings-github");
    const token = within(section).getByTestId("github-token") as HTMLInputElement;
    expect(token.type).toBe("password");
    await fireEvent.input(token, { target: { value: "github_pat_x" } });
    await fireEvent.input(within(section).getByTestId("github-repos"), { target: { value: "acme/app\n acme/api, " } });
    await fireEvent.click(within(section).getByTestId("github-connect"));
    await waitFor(() => expect(calls.some((c) => c.method === "connect_ci_account")).toBe(true));
    expect(calls.find((c) => c.method === "connect_ci_account")).toEqual({
      method: "connect_ci_account",
      params: { connection: { provider: "github", api_host: null, repos: ["acme/app", "acme/api"], token: "github_pat_x" } },
    });
    await waitFor(() => expect(token.value).toBe(""));
  });

  it("shows a connected account, why its last read failed, and reads or disconnects it", async () => {
    const calls: ApiRequest[] = [];
    serve([github()], calls);
    render(Settings);
    const connected = await screen.findByTestId("github-connected");
    expect(connected.textContent).toContain("acme/app");
    expect(connected.textContent).toContain("acme/api");
    expect(within(connected).getByTestId("github-token-place").textContent).toContain("no D-Bus session bus");
    expect(within(connected).getByTestId("account-error").textContent).toContain("refused the token");
    await fireEvent.click(within(connected).getByTestId("sync-now"));
    await waitFor(() => expect(calls.find((c) => c.method === "sync_ci_account")).toEqual({ method: "sync_ci_account", params: { id: "github https://api.github.com" } }));
    await fireEvent.click(within(connected).getByTestId("github-disconnect"));
    await waitFor(() => expect(calls.find((c) => c.method === "disconnect_ci_account")).toEqual({ method: "disconnect_ci_account", params: { id: "github https://api.github.com" } }));
  });
});

describe("Settings: GitLab CI with a token", () => {
  const gitlab = (): CiAccountStatus => ({
    id: "gitlab https://gitlab.acme.test", name: "GitLab account at gitlab.acme.test", provider: "gitlab",
    api_host: "https://gitlab.acme.test", repos: ["acme/app", "42"],
    token_place: { place: "keyring" },
    sync: { last_attempt: null, last_success: null, error: null, events: 3, requests: 2 },
    syncing: false,
  });

  it("connects projects on a self-managed host as a GitLab account, and lists each account under its own provider", async () => {
    const calls: ApiRequest[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "overview") return { method: "overview", result: overview([], { ci_accounts: [gitlab()] }) };
      if (request.method === "connect_ci_account") return { method: "connect_ci_account", result: gitlab() };
      return { method: "settings", result: settings() };
    });
    render(Settings);
    const section = await screen.findByTestId("settings-gitlab");
    expect(section.textContent).toContain("GitLab CI");
    // The GitLab account is shown in its section and not in GitHub's.
    expect(within(section).getByTestId("gitlab-connected").textContent).toContain("acme/app");
    expect(within(screen.getByTestId("settings-github")).queryByTestId("github-connected")).toBeNull();
    expect(within(section).getByTestId("gitlab-token-place").textContent).toContain("system keyring");
    await fireEvent.input(within(section).getByTestId("gitlab-token"), { target: { value: "glpat-x" } });
    await fireEvent.input(within(section).getByTestId("gitlab-repos"), { target: { value: "acme/app 42" } });
    await fireEvent.input(within(section).getByTestId("gitlab-api-host"), { target: { value: " https://gitlab.acme.test " } });
    await fireEvent.click(within(section).getByTestId("gitlab-connect"));
    await waitFor(() => expect(calls.some((c) => c.method === "connect_ci_account")).toBe(true));
    expect(calls.find((c) => c.method === "connect_ci_account")).toEqual({
      method: "connect_ci_account",
      params: { connection: { provider: "gitlab", api_host: "https://gitlab.acme.test", repos: ["acme/app", "42"], token: "glpat-x" } },
    });
  });
});

describe("Settings: notification rules per sender", () => {
  it("starts a sender's rule from the rule every sender has, and saves it apart", async () => {
    const calls: ApiRequest[] = [];
    const base = settings({
      notifications: { rules: [{ provider: null, scope: "build", outcomes: ["failed", "timed_out"] }], rejected: true, expiring: true, back_to_green: true, commit_ready: true },
    });
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "overview") return { method: "overview", result: overview([]) };
      if (request.method === "save_settings") return { method: "save_settings", result: request.params.settings };
      return { method: "settings", result: base };
    });
    render(Settings);
    const failed = (await screen.findByLabelText("Builds failed")) as HTMLInputElement;
    expect(failed.checked).toBe(true);
    await fireEvent.change(screen.getByTestId("rules-provider"), { target: { value: "github" } });
    expect((screen.getByLabelText("Builds failed") as HTMLInputElement).checked).toBe(true);
    await fireEvent.click(screen.getByLabelText("Builds failed"));
    await fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.some((c) => c.method === "save_settings")).toBe(true));
    const saved = calls.find((c) => c.method === "save_settings") as Extract<ApiRequest, { method: "save_settings" }>;
    expect(saved.params.settings.notifications.rules).toEqual([
      { provider: null, scope: "build", outcomes: ["failed", "timed_out"] },
      { provider: "github", scope: "build", outcomes: ["timed_out"] },
    ]);
  });
});
