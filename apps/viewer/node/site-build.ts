/**
 * Builds the static site once per version of its sources and caches the result, so that
 * `buildViewer` and `serveViewer` only copy files on later calls.
 */
import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The apps/viewer folder. */
export const VIEWER_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
);
const CACHE_DIR = path.join(
  VIEWER_ROOT,
  "node_modules",
  ".cache",
  "ffads-viewer",
);

/**
 * Returns the folder of a production build of the site for the current sources, running
 * `vite build` first when no cached build matches them.
 */
export async function ensureSiteBuild(): Promise<string> {
  const hash = await hashSources();
  const siteDir = path.join(CACHE_DIR, `site-${hash}`);
  if (await exists(path.join(siteDir, "index.html"))) {
    return siteDir;
  }

  // Build beside the final folder and rename, so that a concurrent or interrupted build never
  // leaves a partial site under the final name.
  const tempDir = `${siteDir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(CACHE_DIR, { recursive: true });
  const { build } = await import("vite");
  await build({
    root: VIEWER_ROOT,
    configFile: path.join(VIEWER_ROOT, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir: tempDir, emptyOutDir: true },
  });
  try {
    await rename(tempDir, siteDir);
  } catch (error) {
    // Another process finished the same build first, and its result is identical.
    if (!(await exists(path.join(siteDir, "index.html")))) throw error;
    await rm(tempDir, { recursive: true, force: true });
  }
  await removeStaleBuilds(path.basename(siteDir));
  return siteDir;
}

/** Hashes every file the build reads from this repository. */
async function hashSources(): Promise<string> {
  const require = createRequire(import.meta.url);
  const formatDir = path.dirname(require.resolve("@ffads/ads/format"));
  const files = [
    ...(await listFiles(path.join(VIEWER_ROOT, "src"))),
    ...(await listFiles(formatDir)).filter(
      (file) => !file.endsWith(".test.ts"),
    ),
    path.join(formatDir, "..", "colormap.ts"),
    path.join(VIEWER_ROOT, "index.html"),
    path.join(VIEWER_ROOT, "vite.config.ts"),
    path.join(VIEWER_ROOT, "package.json"),
  ];
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    hash.update(path.relative(VIEWER_ROOT, file));
    hash.update(await readFile(file));
  }
  return hash.digest("hex").slice(0, 16);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

async function removeStaleBuilds(keep: string): Promise<void> {
  for (const name of await readdir(CACHE_DIR)) {
    if (name.startsWith("site-") && name !== keep && !name.includes(".tmp-")) {
      await rm(path.join(CACHE_DIR, name), { recursive: true, force: true });
    }
  }
}

/** Returns whether a file or folder exists at `file`. */
export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
