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
 * build without runs, a page on file:// (where fetch is blocked) and the dev server yield none.
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
  // A dev server may answer a missing file with the app's index.html.
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
