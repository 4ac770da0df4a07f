import { existsSync } from "node:fs";
import path from "node:path";

import { buildViewer, serveViewer } from "@ffads/viewer/node";

import { UsageError } from "../errors.ts";
import type { Streams } from "../main.ts";

export interface ViewFlags {
  runs: string[];
  out: string;
  serve: boolean;
  port: number;
}

export interface ViewSummary {
  runs: { name: string; dir: string }[];
  /** The built index.html, when the site was written to a folder. */
  indexHtml: string | null;
  /** The address the site is served at, with --serve. */
  url: string | null;
}

/**
 * `ff view`: builds the static viewer with the given run folders copied in, or serves it on
 * 127.0.0.1 until interrupted.
 */
export async function runView(
  flags: ViewFlags,
  signal: AbortSignal,
  streams: Streams,
): Promise<ViewSummary> {
  for (const dir of flags.runs) {
    if (!existsSync(dir)) {
      throw new UsageError(
        `run folder ${dir} does not exist; give a folder written by ff train or ff ads`,
      );
    }
  }
  const runs = uniqueNames(flags.runs.map((dir) => path.resolve(dir)));
  if (!flags.serve) {
    const outDir = path.resolve(flags.out);
    const { indexHtml } = await buildViewer({ runs, outDir });
    return { runs, indexHtml, url: null };
  }
  const server = await serveViewer({
    runs,
    port: flags.port,
    host: "127.0.0.1",
  });
  streams.stderr(
    `serving the viewer at ${server.url} (press Ctrl-C to stop)\n`,
  );
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await server.close();
  return { runs, indexHtml: null, url: server.url };
}

export function formatViewSummary(summary: ViewSummary): string {
  if (summary.indexHtml === null) return `stopped serving ${summary.url}`;
  return [
    `viewer with ${summary.runs.map((run) => run.name).join(", ")}: ${summary.indexHtml}`,
    `open it in a browser (file:// works, no server needed), e.g. xdg-open ${summary.indexHtml}`,
    `or serve it: pnpm ff view ${summary.runs.map((run) => path.relative(process.cwd(), run.dir) || ".").join(" ")} --serve`,
  ].join("\n");
}

/** Names each run after its folder, adding -2, -3 ... when two folders share a name. */
function uniqueNames(dirs: string[]): { name: string; dir: string }[] {
  const used = new Map<string, number>();
  return dirs.map((dir) => {
    const base = path.basename(dir).replace(/[^A-Za-z0-9._-]/g, "-") || "run";
    const seen = used.get(base) ?? 0;
    used.set(base, seen + 1);
    return { name: seen === 0 ? base : `${base}-${seen + 1}`, dir };
  });
}
