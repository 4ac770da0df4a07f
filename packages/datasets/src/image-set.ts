import type { DatasetName, Split } from "./catalog.ts";
import { DatasetError } from "./errors.ts";
import type { IdxArray } from "./idx.ts";

/** Labelled images of one split, as raw bytes. */
export interface ImageSet {
  dataset: DatasetName;
  split: Split;
  count: number;
  rows: number;
  cols: number;
  /** `count * rows * cols` pixel values in 0..255, image after image, each row-major. */
  images: Uint8Array;
  /** `count` labels, each an index into `classNames`. */
  labels: Uint8Array;
  /** Class names, index = label. */
  classNames: readonly string[];
  /** Absolute path of the folder the files came from. */
  source: string;
}

/** Paths and metadata that `assembleImageSet` copies into the result. */
export interface ImageSetOrigin {
  dataset: DatasetName;
  split: Split;
  classNames: readonly string[];
  source: string;
  imagesPath: string;
  labelsPath: string;
}

/**
 * Combines a parsed images file (shape [count, rows, cols]) and labels file (shape [count]) into
 * an image set, after checking that every label indexes a class and that the counts match.
 *
 * @throws DatasetError LABEL_OUT_OF_RANGE or COUNT_MISMATCH
 */
export function assembleImageSet(
  images: IdxArray,
  labels: IdxArray,
  origin: ImageSetOrigin,
): ImageSet {
  const [imageCount, rows, cols] = images.shape as [number, number, number];
  const [labelCount] = labels.shape as [number];

  validateLabels(labels.data, origin.classNames.length, origin.labelsPath);
  if (imageCount !== labelCount) {
    throw new DatasetError(
      "COUNT_MISMATCH",
      `${origin.imagesPath} contains ${imageCount} images but ${origin.labelsPath} contains ` +
        `${labelCount} labels. Use an images file and a labels file of the same split.`,
    );
  }

  return {
    dataset: origin.dataset,
    split: origin.split,
    count: imageCount,
    rows,
    cols,
    images: images.data,
    labels: labels.data,
    classNames: origin.classNames,
    source: origin.source,
  };
}

/**
 * Throws a DatasetError LABEL_OUT_OF_RANGE at the first label outside 0..classCount-1.
 *
 * @param fileName the name or path to put in the error message
 */
export function validateLabels(
  labels: Uint8Array,
  classCount: number,
  fileName: string,
): void {
  const index = labels.findIndex((label) => label >= classCount);
  if (index === -1) return;
  throw new DatasetError(
    "LABEL_OUT_OF_RANGE",
    `${fileName}: label ${labels[index]} of item ${index} is outside 0..${classCount - 1}. ` +
      `The file is not a labels file of this dataset, or it is damaged; replace it.`,
  );
}
