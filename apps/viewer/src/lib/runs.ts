/** Finds the runs that a build carries: embedded in runs/embedded.js, or listed in runs/index.json. */
import { errorMessage } from "@ffads/ads/format";
import {
  RUNS_INDEX_PATH,
  validateRunsIndex,
  type EmbeddedRuns,
  type RunsIndexEntry,
} from "./runs-index.ts";

/**
 * Returns the runs of the build and, when runs/index.json exists but is invalid, the problem. A
 * build without runs and a page on file:// without embedded runs (fetch is blocked there) yield
 * none.
 */
export async function loadRunsIndex(
  embedded: EmbeddedRuns | null,
): Promise<{ runs: RunsIndexEntry[]; problem: string | null }> {
  if (embedded) return { runs: embedded.index.runs, problem: null };
  if (location.protocol === "file:") return { runs: [], problem: null };

  let response: Response;
  try {
    response = await fetch(new URL(RUNS_INDEX_PATH, document.baseURI));
  } catch {
    return { runs: [], problem: null };
  }
  // A server with a single-page-app fallback returns index.html for a missing file.
  const isHtml =
    response.headers.get("content-type")?.includes("text/html") ?? false;
  if (!response.ok || isHtml) return { runs: [], problem: null };
  try {
    return {
      runs: validateRunsIndex(await response.json()).runs,
      problem: null,
    };
  } catch (error) {
    return { runs: [], problem: errorMessage(error) };
  }
}
