/**
 * The list of runs that `buildViewer` copies into a build, as runs/index.json and as the optional
 * runs/embedded.js script that lets the build open from file://.
 */

/** runs/index.json. */
export interface RunsIndex {
  format: typeof RUNS_INDEX_FORMAT;
  version: 1;
  runs: RunsIndexEntry[];
}

/** One run of a build, laid out as `<path>/saliency/` and, when there is a model, `<path>/model/`. */
export interface RunsIndexEntry {
  name: string;
  /** The run folder relative to the site root, e.g. "runs/quickstart". */
  path: string;
}

/** The value that runs/embedded.js assigns to `globalThis[EMBEDDED_RUNS_GLOBAL]`. */
export interface EmbeddedRuns {
  index: RunsIndex;
  /** Base64 contents of the embedded files, keyed by their path relative to the site root. */
  files: Record<string, string>;
}

export const RUNS_INDEX_FORMAT = "ffads-viewer-runs";
export const RUNS_INDEX_PATH = "runs/index.json";
export const EMBEDDED_RUNS_PATH = "runs/embedded.js";
export const EMBEDDED_RUNS_GLOBAL = "__FFADS_EMBEDDED_RUNS__";

/** Run names become folder names in a build, so they are limited to these characters. */
export const RUN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Validates a parsed runs/index.json and returns it typed. Throws an Error naming the field.
 * Run paths must stay inside the site, because the viewer fetches them relative to the page.
 */
export function validateRunsIndex(value: unknown): RunsIndex {
  const index = value as Partial<RunsIndex> | null;
  if (
    !index ||
    typeof index !== "object" ||
    index.format !== RUNS_INDEX_FORMAT
  ) {
    throw new Error(
      `${RUNS_INDEX_PATH}: field "format" must be "${RUNS_INDEX_FORMAT}"`,
    );
  }
  if (index.version !== 1) {
    throw new Error(
      `${RUNS_INDEX_PATH}: version ${String(index.version)} is not supported; expected 1`,
    );
  }
  if (!Array.isArray(index.runs))
    throw new Error(`${RUNS_INDEX_PATH}: field "runs" must be an array`);
  index.runs.forEach((run, i) => {
    const valid =
      typeof run?.name === "string" &&
      typeof run.path === "string" &&
      /^runs\/[^/]+$/.test(run.path) &&
      RUN_NAME_PATTERN.test(run.path.slice("runs/".length));
    if (!valid) {
      throw new Error(
        `${RUNS_INDEX_PATH}: runs[${i}] must be { "name", "path": "runs/<name>" }`,
      );
    }
  });
  return index as RunsIndex;
}
