import { defineConfig } from "vite";

// The bundle (with lightweight-charts) goes into the Python package; it is never committed.
export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/smc_agent/api/static/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/v1": "http://127.0.0.1:8000", "/ws": { target: "ws://127.0.0.1:8000", ws: true } },
  },
});
