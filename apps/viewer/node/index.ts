/**
 * The Node API of the viewer, for `pnpm ff view`: builds the static site with copies of run
 * folders, and serves it on a local port.
 */
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  EMBEDDED_RUNS_GLOBAL,
  EMBEDDED_RUNS_PATH,
  RUN_NAME_PATTERN,
  RUNS_INDEX_FORMAT,
  RUNS_INDEX_PATH,
  type EmbeddedRuns,
  type RunsIndex,
} from "../src/lib/runs-index.ts";
import { ensureSiteBuild, exists } from "./site-build.ts";
import { startStaticServer } from "./static-server.ts";

/**
 * A run to copy into the build: a run folder (model/ and saliency/), a bare saliency folder or a
 * bare model folder.
 */
export interface ViewerRun {
  /** The run's name in the viewer and its folder name in the build (letters, digits, ".", "_", "-"). */
  name: string;
  dir: string;
}

export interface BuildViewerOptions {
  runs: ViewerRun[];
  /** The folder to write the site into: missing, empty, or an earlier output of `buildViewer`. */
  outDir: string;
  /**
   * Whether to write runs/embedded.js, a script with the runs' JSON and .npy files in base64, so
   * that the build opens from file:// where fetch is blocked. Default true.
   */
  embed?: boolean;
}

export interface ServeViewerOptions {
  runs: ViewerRun[];
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on; default 127.0.0.1, so only this machine can connect. */
  host?: string;
  /** The folder to build the site in. By default a temporary folder, which `close` removes. */
  outDir?: string;
}

export type ViewerInputErrorCode =
  "invalid-run-name" | "duplicate-run-name" | "not-a-run" | "invalid-out-dir";

/** A run or an output folder that `buildViewer` cannot use; the message names it and the fix. */
export class ViewerInputError extends Error {
  override name = "ViewerInputError";
  readonly code: ViewerInputErrorCode;

  constructor(code: ViewerInputErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The file that marks a folder as written by `buildViewer`, so that a rebuild may clear it. */
const BUILD_MARKER = ".ffads-viewer-build";

/**
 * Builds the viewer into `outDir`, copies each run under `outDir/runs/<name>/` (as `saliency/`
 * and `model/`), and writes runs/index.json and, unless `embed` is false, runs/embedded.js.
 * Returns the path of the built index.html.
 */
export async function buildViewer(
  options: BuildViewerOptions,
): Promise<{ indexHtml: string }> {
  const outDir = path.resolve(options.outDir);
  const runs = await Promise.all(options.runs.map(locateRun));
  checkRunNames(runs);
  await prepareOutDir(outDir, runs);

  const siteDir = await ensureSiteBuild();
  await cp(siteDir, outDir, { recursive: true });
  await writeFile(
    path.join(outDir, BUILD_MARKER),
    "written by buildViewer of @ffads/viewer\n",
  );

  const index: RunsIndex = { format: RUNS_INDEX_FORMAT, version: 1, runs: [] };
  for (const run of runs) {
    const runDir = path.join(outDir, "runs", run.name);
    if (run.saliencyDir)
      await cp(run.saliencyDir, path.join(runDir, "saliency"), {
        recursive: true,
      });
    if (run.modelDir)
      await cp(run.modelDir, path.join(runDir, "model"), { recursive: true });
    index.runs.push({ name: run.name, path: `runs/${run.name}` });
  }
  await mkdir(path.join(outDir, "runs"), { recursive: true });
  await writeFile(
    path.join(outDir, RUNS_INDEX_PATH),
    `${JSON.stringify(index, null, 2)}\n`,
  );

  const indexHtml = path.join(outDir, "index.html");
  if (options.embed ?? true) await embedRuns(outDir, index, indexHtml);
  return { indexHtml };
}

/**
 * Builds the viewer with the runs (without embedding them, since the server serves their files)
 * and serves it until `close` is called.
 */
export async function serveViewer(
  options: ServeViewerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const outDir =
    options.outDir ?? (await mkdtemp(path.join(tmpdir(), "ffads-viewer-")));
  try {
    await buildViewer({ runs: options.runs, outDir, embed: false });
    const server = await startStaticServer(
      outDir,
      options.port ?? 0,
      options.host ?? "127.0.0.1",
    );
    return {
      url: server.url,
      close: async () => {
        await server.close();
        if (!options.outDir) await rm(outDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (!options.outDir) await rm(outDir, { recursive: true, force: true });
    throw error;
  }
}

interface LocatedRun {
  name: string;
  dir: string;
  saliencyDir: string | null;
  modelDir: string | null;
}

/**
 * Finds the saliency folder and the model folder of a run: `dir/saliency` or `dir` itself for the
 * saliency folder, and `dir/model`, the folder the manifest names, or `dir` itself for the model.
 * Only the layout is checked here, because the viewer reports invalid contents when it opens the run.
 */
async function locateRun(run: ViewerRun): Promise<LocatedRun> {
  const dir = path.resolve(run.dir);
  let saliencyDir: string | null = null;
  if (await exists(path.join(dir, "saliency", "manifest.json")))
    saliencyDir = path.join(dir, "saliency");
  else if (await exists(path.join(dir, "manifest.json"))) saliencyDir = dir;

  const modelCandidates = [path.join(dir, "model")];
  if (saliencyDir) {
    const modelPath = await manifestModelPath(saliencyDir);
    if (modelPath) modelCandidates.push(path.resolve(saliencyDir, modelPath));
  }
  if (saliencyDir !== dir) modelCandidates.push(dir);
  let modelDir: string | null = null;
  for (const candidate of modelCandidates) {
    if (await exists(path.join(candidate, "model.json"))) {
      modelDir = candidate;
      break;
    }
  }

  if (!saliencyDir && !modelDir) {
    throw new ViewerInputError(
      "not-a-run",
      `${dir}: not a run folder: expected saliency/manifest.json, manifest.json, model/model.json or model.json in it`,
    );
  }
  return { name: run.name, dir, saliencyDir, modelDir };
}

async function manifestModelPath(saliencyDir: string): Promise<string | null> {
  try {
    const manifest = JSON.parse(
      await readFile(path.join(saliencyDir, "manifest.json"), "utf8"),
    );
    return typeof manifest?.model?.path === "string"
      ? manifest.model.path
      : null;
  } catch {
    // The viewer reports an unreadable manifest when it opens the run.
    return null;
  }
}

function checkRunNames(runs: readonly LocatedRun[]): void {
  const seen = new Set<string>();
  for (const run of runs) {
    if (!RUN_NAME_PATTERN.test(run.name)) {
      throw new ViewerInputError(
        "invalid-run-name",
        `run name ${JSON.stringify(run.name)} is invalid: use letters, digits, ".", "_" and "-", starting with a letter or digit`,
      );
    }
    if (seen.has(run.name)) {
      throw new ViewerInputError(
        "duplicate-run-name",
        `run name "${run.name}" is given twice; give each run its own name`,
      );
    }
    seen.add(run.name);
  }
}

/** Empties an earlier build in `outDir`, after checking that this removes no one else's files. */
async function prepareOutDir(
  outDir: string,
  runs: readonly LocatedRun[],
): Promise<void> {
  for (const run of runs) {
    for (const source of [run.dir, run.saliencyDir, run.modelDir]) {
      if (source && (isInside(source, outDir) || isInside(outDir, source))) {
        throw new ViewerInputError(
          "invalid-out-dir",
          `output folder ${outDir} overlaps run folder ${source}; choose an output folder outside the runs`,
        );
      }
    }
  }

  const entries = await readdir(outDir).catch(() => null);
  if (entries && entries.length > 0) {
    if (!entries.includes(BUILD_MARKER)) {
      throw new ViewerInputError(
        "invalid-out-dir",
        `output folder ${outDir} is not empty and was not written by buildViewer; choose an empty or new folder`,
      );
    }
    await Promise.all(
      entries.map((entry) =>
        rm(path.join(outDir, entry), { recursive: true, force: true }),
      ),
    );
  }
  await mkdir(outDir, { recursive: true });
}

/**
 * Writes runs/embedded.js with every JSON and .npy file of the copied runs, and loads it from
 * index.html before the app.
 */
async function embedRuns(
  outDir: string,
  index: RunsIndex,
  indexHtml: string,
): Promise<void> {
  const embedded: EmbeddedRuns = { index, files: {} };
  for (const run of index.runs) {
    for (const sub of ["saliency", "model"]) {
      const dir = path.join(outDir, run.path, sub);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names
        .filter((file) => file.endsWith(".json") || file.endsWith(".npy"))
        .sort()) {
        const bytes = await readFile(path.join(dir, name));
        embedded.files[`${run.path}/${sub}/${name}`] = bytes.toString("base64");
      }
    }
  }
  const script = `globalThis[${JSON.stringify(EMBEDDED_RUNS_GLOBAL)}] = ${JSON.stringify(embedded)};\n`;
  await writeFile(path.join(outDir, EMBEDDED_RUNS_PATH), script);

  const html = await readFile(indexHtml, "utf8");
  const tag = `<script src="./${EMBEDDED_RUNS_PATH}"></script>\n    `;
  const firstScript = html.indexOf("<script");
  if (firstScript < 0)
    throw new Error(
      `${indexHtml}: no <script> tag to load the embedded runs before`,
    );
  await writeFile(
    indexHtml,
    html.slice(0, firstScript) + tag + html.slice(firstScript),
  );
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return (
    relative === "" ||
    (!relative.startsWith("..") && !path.isAbsolute(relative))
  );
}
