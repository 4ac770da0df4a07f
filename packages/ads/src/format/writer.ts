/**
 * Writes saliency folders (docs/formats.md): one .npy file per array, then manifest.json, each
 * written atomically so an interrupted run never leaves a half-written file under its final name.
 */
import path from "node:path";

import { writeFileAtomic } from "@ffads/ff-core";

import type { AdsResult } from "../run.ts";
import {
  FORMAT_VERSION,
  SALIENCY_FORMAT,
  validateSaliencyManifest,
  type ArrayEntry,
  type FigureEntry,
  type ModelReference,
  type SaliencyArrayName,
  type SaliencyManifest,
} from "./manifest.ts";
import { encodeNpy } from "./npy.ts";

/** Manifest fields that the ADS result does not contain. */
export interface SaliencyMetadata {
  /** The model folder, relative to the saliency folder, and a summary of the model. */
  model: ModelReference;
  /** `"mnist"` or `"fashion-mnist"`. */
  dataset: string;
  split: "test" | "train";
  /** The labels included; defaults to every class. */
  classes?: number[];
  /** The PNG figures beside the arrays, as `writeFigures` returns them. Defaults to none. */
  figures?: FigureEntry[];
  /** Defaults to now. */
  createdAt?: Date;
}

/** Unit and meaning of each array, as docs/formats.md states them. */
const ARRAY_DESCRIPTIONS: Record<
  SaliencyArrayName,
  { unit: string; meaning: string }
> = {
  ads: {
    unit: "accuracy points",
    meaning:
      "dataset-level ADS map: clean accuracy minus occluded accuracy, in percentage points",
  },
  occludedAccuracy: {
    unit: "fraction",
    meaning:
      "accuracy with the window centred on each grid point; grid point (i, j) is pixel (i * stride, j * stride)",
  },
  classAds: {
    unit: "accuracy points",
    meaning:
      "ADS map of each class, on that class's images only; NaN for a class with no image",
  },
  classCleanAccuracy: {
    unit: "fraction",
    meaning: "clean accuracy per class; NaN for a class with no image",
  },
  classImageCount: {
    unit: "images",
    meaning: "number of images of each class",
  },
  sampleImages: {
    unit: "raw pixel value in [0, 1]",
    meaning: "the sample images",
  },
  sampleMaps: {
    unit: "goodness",
    meaning:
      "drop of the true label's goodness margin (its score minus the highest other score), clean minus occluded",
  },
  sampleCleanMargin: {
    unit: "goodness",
    meaning: "clean goodness margin of each sample",
  },
};

/**
 * Writes the arrays of `result` as .npy files and then manifest.json into `dir`, creating it if
 * needed. Returns the manifest. Throws a FormatError, before writing anything, when the metadata
 * would make an invalid manifest.
 */
export async function writeSaliencyFolder(
  dir: string,
  result: AdsResult,
  metadata: SaliencyMetadata,
): Promise<SaliencyManifest> {
  const [rows, cols] = result.imageShape;
  const classCount = result.classNames.length;
  const sampleCount = result.samples.length;
  const arrays: Record<
    SaliencyArrayName,
    { shape: number[]; data: Float32Array }
  > = {
    ads: { shape: [rows, cols], data: result.ads },
    occludedAccuracy: {
      shape: result.gridShape,
      data: result.occludedAccuracy,
    },
    classAds: { shape: [classCount, rows, cols], data: result.classAds },
    classCleanAccuracy: {
      shape: [classCount],
      data: result.classCleanAccuracy,
    },
    classImageCount: { shape: [classCount], data: result.classImageCount },
    sampleImages: {
      shape: [sampleCount, rows, cols],
      data: result.sampleImages,
    },
    sampleMaps: { shape: [sampleCount, rows, cols], data: result.sampleMaps },
    sampleCleanMargin: { shape: [sampleCount], data: result.sampleCleanMargin },
  };
  const entries = {} as Record<SaliencyArrayName, ArrayEntry>;
  for (const [name, array] of Object.entries(arrays) as [
    SaliencyArrayName,
    { shape: number[]; data: Float32Array },
  ][]) {
    entries[name] = {
      file: `${name}.npy`,
      shape: [...array.shape],
      dtype: "float32",
      ...ARRAY_DESCRIPTIONS[name],
    };
  }

  const manifest: SaliencyManifest = {
    format: SALIENCY_FORMAT,
    version: FORMAT_VERSION,
    createdAt: (metadata.createdAt ?? new Date()).toISOString(),
    model: metadata.model,
    dataset: metadata.dataset,
    split: metadata.split,
    imageCount: result.imageCount,
    imageShape: [rows, cols],
    classNames: [...result.classNames],
    classes: metadata.classes ?? result.classNames.map((_, label) => label),
    window: result.windowSize,
    stride: result.stride,
    baseline: result.baseline,
    cleanAccuracy: result.cleanAccuracy,
    arrays: entries,
    samples: result.samples.map(({ index, label, prediction, correct }) => ({
      index,
      label,
      prediction,
      correct,
    })),
    figures: metadata.figures ?? [],
  };
  // Round-trip through JSON first, so the check validates exactly what a reader will parse.
  const json = JSON.stringify(manifest, null, 2);
  validateSaliencyManifest(JSON.parse(json), path.join(dir, "manifest.json"));

  for (const [name, array] of Object.entries(arrays)) {
    await writeFileAtomic(
      path.join(dir, entries[name as SaliencyArrayName].file),
      encodeNpy({ shape: array.shape, data: array.data }),
    );
  }
  await writeFileAtomic(path.join(dir, "manifest.json"), `${json}\n`);
  return manifest;
}
