import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { RpcError, rpc } from "./rpc";

afterEach(() => clearMocks());

describe("rpc", () => {
  it("sends one typed request to the rpc command and unwraps the result", async () => {
    let seen: unknown = null;
    mockIPC((cmd, args) => {
      expect(cmd).toBe("rpc");
      seen = args;
      return { method: "event", result: { id: 7 } };
    });
    const event = await rpc("event", { id: 7 });
    expect(seen).toEqual({ request: { method: "event", params: { id: 7 } } });
    expect(event.id).toBe(7);
  });

  it("methods without params send none", async () => {
    let seen: unknown = null;
    mockIPC((_cmd, args) => {
      seen = args;
      return { method: "settings", result: {} };
    });
    await rpc("settings");
    expect(seen).toEqual({ request: { method: "settings" } });
  });

  it("backend errors become RpcError with their kind", async () => {
    mockIPC(() => {
      throw { kind: "not_found", message: "no event with id 9" };
    });
    await expect(rpc("event", { id: 9 })).rejects.toEqual(new RpcError("not_found", "no event with id 9"));
  });
});
