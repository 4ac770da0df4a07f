import { FormatError } from "./errors.ts";
import { joinPath, normalizePath } from "./paths.ts";

/**
 * Read access to the files of one folder, so the same reader works with Node's fs, with `fetch`
 * against a served folder and with the File objects of a browser's folder picker.
 *
 * Paths are relative to the folder, "/"-separated, and may start with "../" (a saliency folder
 * names its model folder as "../model"). A file that does not exist must be rejected with a
 * FormatError of code "missing-file", so callers can try another layout.
 */
export interface FolderSource {
  readText(relPath: string): Promise<string>;
  readBytes(relPath: string): Promise<Uint8Array>;
  /** Names a file for error messages, e.g. as an absolute path or URL; defaults to `relPath`. */
  describePath?(relPath: string): string;
}

/** The File or Blob methods that `fileListSource` uses. */
export interface BrowserFile {
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Names `relPath` of `source` as its `describePath` does, or as the path itself. */
export function describeSourcePath(
  source: FolderSource,
  relPath: string,
): string {
  return source.describePath
    ? source.describePath(relPath)
    : normalizePath(relPath);
}

/** Returns a source for the subfolder `dir` of `source`. */
export function subfolderSource(
  source: FolderSource,
  dir: string,
): FolderSource {
  if (normalizePath(dir) === "") return source;
  return {
    readText: (relPath) => source.readText(joinPath(dir, relPath)),
    readBytes: (relPath) => source.readBytes(joinPath(dir, relPath)),
    describePath: (relPath) =>
      describeSourcePath(source, joinPath(dir, relPath)),
  };
}

/**
 * Returns a source that fetches files relative to `baseUrl`, a served folder. A 404 is read as a
 * missing file. `baseUrl` must be absolute; a missing trailing "/" is added.
 */
export function fetchSource(
  baseUrl: string | URL,
  fetchFile: typeof fetch = globalThis.fetch,
): FolderSource {
  const base = new URL(baseUrl);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const urlOf = (relPath: string) => new URL(normalizePath(relPath), base).href;

  async function get(relPath: string): Promise<Response> {
    const url = urlOf(relPath);
    let response: Response;
    try {
      response = await fetchFile(url);
    } catch (error) {
      throw new FormatError(
        "read-failed",
        url,
        `fetch failed: ${errorMessage(error)}`,
      );
    }
    if (response.status === 404)
      throw new FormatError("missing-file", url, "file not found (HTTP 404)");
    if (!response.ok) {
      throw new FormatError(
        "read-failed",
        url,
        `fetch failed: HTTP ${response.status} ${response.statusText}`,
      );
    }
    return response;
  }

  return {
    readText: async (relPath) => (await get(relPath)).text(),
    readBytes: async (relPath) =>
      new Uint8Array(await (await get(relPath)).arrayBuffer()),
    describePath: urlOf,
  };
}

/**
 * Returns a source over files already in memory, such as those of a browser folder picker or a
 * drag and drop, keyed by their path relative to the folder. `folderName` prefixes the paths in
 * error messages.
 */
export function fileListSource(
  files: ReadonlyMap<string, BrowserFile>,
  folderName = "",
): FolderSource {
  const byPath = new Map<string, BrowserFile>();
  for (const [path, file] of files) byPath.set(normalizePath(path), file);

  function find(relPath: string): BrowserFile {
    const path = normalizePath(relPath);
    const file = byPath.get(path);
    if (!file)
      throw new FormatError(
        "missing-file",
        joinPath(folderName, path),
        "file not found in the chosen folder",
      );
    return file;
  }

  return {
    readText: async (relPath) => find(relPath).text(),
    readBytes: async (relPath) =>
      new Uint8Array(await find(relPath).arrayBuffer()),
    describePath: (relPath) => joinPath(folderName, relPath),
  };
}

/** Returns the message of an Error, or the value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
