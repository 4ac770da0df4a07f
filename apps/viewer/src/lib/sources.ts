/**
 * Folder sources of the browser: the runs embedded in a build (runs/embedded.js), the files of a
 * folder picker or a drag and drop, and served folders.
 */
import {
  FormatError,
  fetchSource,
  fileListSource,
  joinPath,
  normalizePath,
  type BrowserFile,
  type FolderSource,
} from "@ffads/ads/format";
import { EMBEDDED_RUNS_GLOBAL, type EmbeddedRuns } from "./runs-index.ts";

/** Returns the runs that runs/embedded.js defined, or null when the build embeds none. */
export function embeddedRuns(): EmbeddedRuns | null {
  const value = (globalThis as Record<string, unknown>)[EMBEDDED_RUNS_GLOBAL];
  return value && typeof value === "object" ? (value as EmbeddedRuns) : null;
}

/** Returns a source over the embedded files under `dir`, a path relative to the site root. */
export function embeddedSource(
  embedded: EmbeddedRuns,
  dir: string,
): FolderSource {
  function find(relPath: string): Uint8Array {
    const path = joinPath(dir, relPath);
    const base64 = embedded.files[path];
    if (base64 === undefined)
      throw new FormatError(
        "missing-file",
        path,
        "file not found in the embedded runs",
      );
    return decodeBase64(base64);
  }
  return {
    readText: async (relPath) => new TextDecoder().decode(find(relPath)),
    readBytes: async (relPath) => find(relPath),
    describePath: (relPath) => joinPath(dir, relPath),
  };
}

/** Returns whether the embedded files contain anything under `dir`. */
export function hasEmbeddedFolder(
  embedded: EmbeddedRuns,
  dir: string,
): boolean {
  const prefix = `${normalizePath(dir)}/`;
  return Object.keys(embedded.files).some((path) => path.startsWith(prefix));
}

/**
 * Returns a source for a folder named by a URL parameter: the embedded copy when the build has
 * one, else the folder fetched relative to the page.
 */
export function sourceForLocation(
  location: string,
  embedded: EmbeddedRuns | null,
): FolderSource {
  const isRelative =
    !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(location) && !location.startsWith("/");
  if (embedded && isRelative && hasEmbeddedFolder(embedded, location)) {
    return embeddedSource(embedded, normalizePath(location));
  }
  return fetchSource(new URL(location, document.baseURI));
}

/** A file of a chosen or dropped folder with its path relative to the chosen folder. */
export interface PickedFile {
  path: string;
  file: BrowserFile;
}

/**
 * Collects the files of an `<input type="file" webkitdirectory>`. Their `webkitRelativePath` starts
 * with the chosen folder's name, which is kept, so that runs picked from a parent folder keep
 * their names.
 */
export function pickedFiles(files: FileList | readonly File[]): PickedFile[] {
  return Array.from(files, (file) => ({
    path: file.webkitRelativePath || file.name,
    file,
  }));
}

/**
 * Collects the files of a drop. Dropped folders are walked recursively, and each path starts with
 * the dropped folder's name. Dropped files sit at the root.
 */
export async function droppedFiles(
  dataTransfer: DataTransfer,
): Promise<PickedFile[]> {
  const entries: FileSystemEntry[] = [];
  const looseFiles: File[] = [];
  for (const item of Array.from(dataTransfer.items)) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) looseFiles.push(file);
    }
  }
  if (entries.length === 0 && looseFiles.length === 0)
    looseFiles.push(...Array.from(dataTransfer.files));

  const collected = looseFiles.map((file) => ({ path: file.name, file }));
  for (const entry of entries) await walkEntry(entry, "", collected);
  return collected;
}

/** Returns a folder source over picked files whose paths start with `root`. */
export function pickedFolderSource(
  files: readonly PickedFile[],
  root: string,
): FolderSource {
  const prefix = root === "" ? "" : `${normalizePath(root)}/`;
  const byPath = new Map<string, BrowserFile>();
  for (const { path, file } of files) {
    const normalized = normalizePath(path);
    if (normalized.startsWith(prefix))
      byPath.set(normalized.slice(prefix.length), file);
  }
  return fileListSource(byPath, root);
}

async function walkEntry(
  entry: FileSystemEntry,
  parent: string,
  collected: PickedFile[],
): Promise<void> {
  const path = joinPath(parent, entry.name);
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    collected.push({ path, file });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries returns the entries in batches and an empty batch at the end.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) break;
    for (const child of batch) await walkEntry(child, path, collected);
  }
}

function decodeBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
