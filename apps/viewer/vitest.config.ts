import { defineConfig } from "vitest/config";

// A separate config, so that tests do not load the Svelte plugin. The end-to-end tests build the
// site with vite.config.ts themselves.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "node/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // The end-to-end tests start Chromium and may build the site. Running one file at a time
    // keeps them within their timeouts on a 2-core machine.
    fileParallelism: false,
  },
});
