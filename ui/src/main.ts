import { invoke } from "@tauri-apps/api/core";

interface AppInfo {
  listen_url: string;
  data_dir: string;
  endpoint_count: number;
  version: string;
}

function show(id: string, text: string): void {
  const el = document.getElementById(id);
  // textContent, never innerHTML: everything shown may come from a payload.
  if (el) el.textContent = text;
}

async function load(): Promise<void> {
  try {
    const info = await invoke<AppInfo>("app_info");
    show("listen-url", `${info.listen_url}/hooks/{name}`);
    show("endpoint-count", String(info.endpoint_count));
    show("data-dir", info.data_dir);
  } catch (e) {
    const el = document.getElementById("error");
    if (el) {
      el.hidden = false;
      el.textContent = `Could not reach the backend: ${String(e)}`;
    }
  }
}

void load();
