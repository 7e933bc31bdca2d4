import { defineConfig } from "vite";

// Tauri serves ui/dist from its own protocol; no remote origins, no inline scripts.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
