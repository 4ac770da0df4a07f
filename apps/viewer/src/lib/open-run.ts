/**
 * Opens a run from any folder source: a run folder (saliency/ and model/), a bare saliency folder
 * or a bare model folder.
 */
import {
  FormatError,
  describeSourcePath,
  errorMessage,
  isMissingFile,
  joinPath,
  normalizePath,
  readModelSummary,
  readSaliencyFolder,
  subfolderSource,
  type FolderSource,
  type ModelSummary,
  type SaliencyFolder,
} from "@ffads/ads/format";

/** A run as the viewer shows it. At least one of `saliency` and `model` is set. */
export interface LoadedRun {
  label: string;
  saliency: SaliencyFolder | null;
  model: ModelSummary | null;
  /** Why there is no model summary: not found, or a FormatError message. */
  modelProblem: string | null;
}

/**
 * Reads the saliency folder and the model summary of the run at the root of `source`.
 *
 * The saliency folder is `saliency/` or the root itself. The model folder is the one the manifest
 * names (`model.path`), else `model/` or the root. A saliency folder that is present but invalid
 * rejects with its FormatError. An invalid or missing model.json only sets `modelProblem`, because
 * the maps are still worth showing.
 */
export async function openRun(
  source: FolderSource,
  label: string,
): Promise<LoadedRun> {
  const saliency = await findSaliencyFolder(source);
  const modelDirs = [
    saliency
      ? joinPath(saliency.dir, saliency.folder.manifest.model.path)
      : null,
    "model",
    "",
  ];

  let model: ModelSummary | null = null;
  let modelError: unknown = null;
  const dirs = [
    ...new Set(modelDirs.filter((dir) => dir !== null).map(normalizePath)),
  ];
  for (const dir of dirs) {
    try {
      model = await readModelSummary(subfolderSource(source, dir));
      break;
    } catch (error) {
      if (!isMissingFile(error)) {
        modelError = error;
        break;
      }
    }
  }

  if (!saliency && !model) {
    if (modelError) throw modelError;
    throw new FormatError(
      "missing-file",
      describeSourcePath(source, ""),
      "no saliency folder or model folder found; expected saliency/manifest.json, manifest.json, model/model.json or model.json",
    );
  }

  let modelProblem: string | null = null;
  if (modelError) modelProblem = errorMessage(modelError);
  else if (!model) {
    const tried = dirs.map((dir) =>
      describeSourcePath(source, joinPath(dir, "model.json")),
    );
    modelProblem = `model.json not found (looked for ${tried.join(", ")}), so there are no loss curves`;
  }
  return { label, saliency: saliency?.folder ?? null, model, modelProblem };
}

async function findSaliencyFolder(
  source: FolderSource,
): Promise<{ dir: string; folder: SaliencyFolder } | null> {
  for (const dir of ["saliency", ""]) {
    const folderSource = subfolderSource(source, dir);
    try {
      return { dir, folder: await readSaliencyFolder(folderSource) };
    } catch (error) {
      // A missing manifest.json means "not here"; any other missing file is a broken folder.
      const missingManifest =
        isMissingFile(error) &&
        (error as FormatError).file ===
          describeSourcePath(folderSource, "manifest.json");
      if (!missingManifest) throw error;
    }
  }
  return null;
}

/**
 * Returns the sorted run roots among the relative paths of a chosen or dropped folder. A saliency
 * folder contains manifest.json and a model folder contains model.json. Its run root is its
 * parent when it is named `saliency` or `model`, else the folder itself.
 */
export function findRunRoots(paths: readonly string[]): string[] {
  const roots = new Set<string>();
  for (const path of paths.map(normalizePath)) {
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    if (name !== "manifest.json" && name !== "model.json") continue;
    const dir = slash < 0 ? "" : path.slice(0, slash);
    const dirName = dir.slice(dir.lastIndexOf("/") + 1);
    const isNamedSubfolder =
      (name === "manifest.json" && dirName === "saliency") ||
      (name === "model.json" && dirName === "model");
    roots.add(
      isNamedSubfolder ? dir.slice(0, Math.max(0, dir.lastIndexOf("/"))) : dir,
    );
  }
  return [...roots].sort();
}
