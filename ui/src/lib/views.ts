import type { Component } from "svelte";
import type { View } from "./state.svelte";

/** A view's module, as `import()` gives it. */
type Loaded = { default: Component };

/**
 * Every view but the dashboard is a chunk of its own, fetched the first time it is opened: the
 * window starts on the dashboard and most sessions never leave it, so Chart.js (more than half
 * of the front end's code) and the other views are not parsed or held until asked for.
 */
export const LATER_VIEWS: Record<Exclude<View, "dashboard">, () => Promise<Loaded>> = {
  history: () => import("../views/History.svelte"),
  commits: () => import("../views/Commits.svelte"),
  requests: () => import("../views/Requests.svelte"),
  endpoints: () => import("../views/Endpoints.svelte"),
  charts: () => import("../views/Charts.svelte"),
  settings: () => import("../views/Settings.svelte"),
};

/** The browser's wall display (`#radiator`), also fetched only when shown. */
export const loadRadiator = (): Promise<Loaded> => import("../views/Radiator.svelte");
