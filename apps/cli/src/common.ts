import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import {
  loadDataset,
  type DatasetEvent,
  type DatasetName,
  type ImageSet,
  type Split,
} from "@ffads/datasets";
import type { LabelledImages } from "@ffads/ff-core";

import type { BackendInfo } from "./backend.ts";
import { UsageError } from "./errors.ts";

/** Flags every command takes. */
export interface GlobalFlags {
  json: boolean;
  verbose: boolean;
  backend: string;
}

/** Dataset source flags (folder, download, checksum check), shared by every command that reads data. */
export interface DataSourceFlags {
  dataDir?: string | undefined;
  download: boolean;
  verifyChecksums: boolean;
}

/** Loads a split, reporting downloads and the folder the files came from on stderr. */
export async function loadSplit(
  dataset: DatasetName,
  split: Split,
  options: DataSourceFlags,
  report: (line: string) => void,
): Promise<ImageSet> {
  const set = await loadDataset(dataset, split, {
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.download ? { download: true } : {}),
    verifyChecksums: options.verifyChecksums,
    onEvent: (event: DatasetEvent) => {
      if (event.type === "download-start")
        report(`downloading ${event.fileName} from ${event.url}`);
      if (event.type === "mirror-failed")
        report(`mirror failed for ${event.fileName}: ${event.message}`);
      if (event.type === "download-complete") report(`saved ${event.path}`);
    },
  });
  report(`${dataset} ${split} split: ${set.count} images from ${set.source}`);
  return set;
}

/** Returns the first `limit` images of a set, or all of them when `limit` is undefined. */
export function firstImages(
  set: ImageSet,
  limit: number | undefined,
): LabelledImages {
  const pixels = set.rows * set.cols;
  const count = limit === undefined ? set.count : Math.min(limit, set.count);
  return {
    images: set.images.subarray(0, count * pixels),
    labels: set.labels.subarray(0, count),
    count,
    pixels,
  };
}

/** Parses a comma-separated list of positive integers, e.g. `500,500`. */
export function parseSizeList(text: string, flag: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  const sizes = parts.map((part) => Number(part));
  if (
    parts.length === 0 ||
    sizes.some(
      (size, i) => parts[i] === "" || !Number.isInteger(size) || size < 1,
    )
  ) {
    throw new UsageError(
      `${flag} "${text}" is invalid; give positive integers separated by commas, e.g. 500,500`,
    );
  }
  return sizes;
}

export function describeBackend(backend: BackendInfo): string {
  return `backend: ${backend.name} (${backend.source})`;
}

/** Throws a UsageError when `--data-dir` names no folder, rather than silently searching elsewhere. */
export function checkDataDir(dataDir: string | undefined): void {
  if (dataDir === undefined) return;
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    throw new UsageError(
      `--data-dir ${dataDir} is not a folder; give the folder that holds the IDX files`,
    );
  }
}

/**
 * Checks before any work that `out` can take the results. A folder holding `marker` (the file of
 * an earlier result) needs `--overwrite`. When the results replace the whole folder
 * (`replacesFolder`), a folder with other files is rejected whatever the flags, because replacing
 * it would delete them. The nearest existing parent must be a folder, so that the write can
 * succeed at the end.
 */
export function checkOutputFolder(
  out: string,
  options: {
    marker: string;
    resultName: string;
    overwrite: boolean;
    replacesFolder: boolean;
  },
): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory())
      throw new UsageError(
        `--out ${out} is a file; give a folder for the ${options.resultName}`,
      );
    const entries = readdirSync(out);
    if (entries.length === 0) return;
    if (!entries.includes(options.marker)) {
      if (!options.replacesFolder) return;
      throw new UsageError(
        `--out ${out} contains other files (no ${options.marker}) that writing the ${options.resultName} ` +
          `would delete; give a new or empty folder`,
      );
    }
    if (!options.overwrite)
      throw new UsageError(
        `${out} already contains a ${options.resultName}; pass --overwrite to replace it, or choose another --out`,
      );
    return;
  }
  let parent = path.dirname(out);
  while (!existsSync(parent)) parent = path.dirname(parent);
  if (!statSync(parent).isDirectory())
    throw new UsageError(
      `--out ${out} cannot be created, because ${parent} is a file; give another --out`,
    );
}
