/**
 * Reads saliency folders and the summary of model folders (docs/formats.md) with no tfjs and no
 * Node import, so the viewer can bundle it for the browser. `nodeFolderSource` lives in
 * node-source.ts for the same reason.
 */
import { FormatError } from "./errors.ts";
import {
  checkArrayShape,
  validateModelSummary,
  validateSaliencyManifest,
  type ModelSummary,
  type SaliencyManifest,
} from "./manifest.ts";
import { parseNpy, type Float32NdArray } from "./npy.ts";
import {
  describeSourcePath,
  errorMessage,
  type FolderSource,
} from "./source.ts";

export * from "./manifest.ts";
export * from "./npy.ts";
export * from "./paths.ts";
export * from "./source.ts";
export * from "../colormap.ts";

/** A saliency folder read into memory: the validated manifest and every array it lists. */
export interface SaliencyFolder {
  manifest: SaliencyManifest;
  /** The arrays by their name in `manifest.arrays`, each with the shape the manifest lists. */
  arrays: Record<string, Float32NdArray>;
}

/**
 * Reads manifest.json and every .npy array it lists from a saliency folder.
 *
 * Rejects with a FormatError that names the file and the problem when a file is missing, is not
 * valid JSON or .npy, has another format name or version, lacks a field, or contains an array whose
 * shape differs from the manifest's.
 */
export async function readSaliencyFolder(
  source: FolderSource,
): Promise<SaliencyFolder> {
  const manifestJson = await readJson(source, "manifest.json");
  const manifest = validateSaliencyManifest(
    manifestJson,
    describeSourcePath(source, "manifest.json"),
  );

  const entries = Object.entries(manifest.arrays);
  const arrays = await Promise.all(
    entries.map(async ([name, entry]) => {
      const displayPath = describeSourcePath(source, entry.file);
      const bytes = await readFile(source, entry.file, (relPath) =>
        source.readBytes(relPath),
      );
      const array = parseNpy(bytes, displayPath);
      checkArrayShape(name, { ...entry, file: displayPath }, array.shape);
      return [name, array] as const;
    }),
  );
  return { manifest, arrays: Object.fromEntries(arrays) };
}

/** Reads and validates model.json from a model folder; weights.bin is not read. */
export async function readModelSummary(
  source: FolderSource,
): Promise<ModelSummary> {
  const json = await readJson(source, "model.json");
  return validateModelSummary(json, describeSourcePath(source, "model.json"));
}

/** Reads and parses a JSON file of `source`, rejecting with a FormatError that names it. */
export async function readJson(
  source: FolderSource,
  relPath: string,
): Promise<unknown> {
  const text = await readFile(source, relPath, (path) => source.readText(path));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(
      "invalid-json",
      describeSourcePath(source, relPath),
      `invalid JSON: ${errorMessage(error)}`,
    );
  }
}

// Sources reject with FormatErrors, but a custom source may throw anything, so other errors are
// wrapped to keep the file name in the message.
async function readFile<T>(
  source: FolderSource,
  relPath: string,
  read: (relPath: string) => Promise<T>,
): Promise<T> {
  try {
    return await read(relPath);
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(
      "read-failed",
      describeSourcePath(source, relPath),
      `read failed: ${errorMessage(error)}`,
    );
  }
}
