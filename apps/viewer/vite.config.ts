import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig, type Plugin } from "vite";

// The build must open from file:// as well as from a server. Chromium refuses module scripts and
// crossorigin stylesheets on file:// pages, so the app is bundled as one classic IIFE script.
export default defineConfig({
  base: "./",
  // The app has no client-side routes. With "mpa", the dev server returns 404 for a missing run
  // file instead of index.html, and the viewer needs the 404 to detect a run's layout.
  appType: "mpa",
  plugins: [svelte(), classicScriptTags()],
  build: {
    outDir: "dist",
    target: "es2022",
    modulePreload: false,
    rollupOptions: {
      output: { format: "iife", inlineDynamicImports: true },
    },
  },
});

/** Rewrites the built index.html so that the IIFE bundle loads as a deferred classic script. */
function classicScriptTags(): Plugin {
  return {
    name: "ffads-classic-script-tags",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler: (html) =>
        html
          .replace(/<script type="module" crossorigin /g, "<script defer ")
          .replace(
            /<link rel="stylesheet" crossorigin /g,
            '<link rel="stylesheet" ',
          ),
    },
  };
}
