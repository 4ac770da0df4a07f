/**
 * A small valid saliency folder and model.json, built in memory for the tests of this folder.
 */
import { encodeNpy } from "./npy.ts";

export const EXAMPLE_SAMPLE_LABELS = [3, 7, 1];
export const EXAMPLE_SAMPLE_PREDICTIONS = [3, 2, 1];

/** Returns a valid manifest.json object: 10 digit classes, window 4, stride 2, three samples. */
export function exampleManifest(): Record<string, unknown> {
  const file = (name: string) => `${name}.npy`;
  const entry = (name: string, shape: number[], unit: string) => ({
    file: file(name),
    shape,
    dtype: "float32",
    unit,
    meaning: `the ${name} array`,
  });
  return {
    format: "ffads-saliency",
    version: 1,
    createdAt: "2025-01-02T03:04:05.000Z",
    model: {
      path: "../model",
      kind: "ff",
      layerSizes: [784, 500, 500],
      recipe: "paper",
      testAccuracy: 0.93,
    },
    dataset: "mnist",
    split: "test",
    imageCount: 200,
    imageShape: [28, 28],
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    window: 4,
    stride: 2,
    baseline: { kind: "zero", value: 0 },
    cleanAccuracy: 0.925,
    arrays: {
      ads: entry("ads", [28, 28], "accuracy points"),
      occludedAccuracy: entry("occludedAccuracy", [14, 14], "fraction"),
      classAds: entry("classAds", [10, 28, 28], "accuracy points"),
      classCleanAccuracy: entry("classCleanAccuracy", [10], "fraction"),
      classImageCount: entry("classImageCount", [10], "images"),
      sampleImages: entry(
        "sampleImages",
        [3, 28, 28],
        "raw pixel value in [0, 1]",
      ),
      sampleMaps: entry("sampleMaps", [3, 28, 28], "goodness"),
      sampleCleanMargin: entry("sampleCleanMargin", [3], "goodness"),
    },
    samples: EXAMPLE_SAMPLE_LABELS.map((label, i) => ({
      index: 10 + i,
      label,
      prediction: EXAMPLE_SAMPLE_PREDICTIONS[i],
      correct: label === EXAMPLE_SAMPLE_PREDICTIONS[i],
    })),
    figures: [{ file: "ads.png", kind: "ads", title: "Dataset-level ADS" }],
  };
}

/**
 * Returns the files of a valid saliency folder by relative path. Each array's value at flat
 * index i is `i * 0.5 + k`, with k the array's position in `arrays`, so reads can be checked.
 */
export function exampleSaliencyFiles(
  manifest = exampleManifest(),
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set(
    "manifest.json",
    new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
  );
  const arrays = manifest.arrays as Record<
    string,
    { file: string; shape: number[] }
  >;
  Object.values(arrays).forEach((entry, k) => {
    const count = entry.shape.reduce((product, size) => product * size, 1);
    const data = Float32Array.from({ length: count }, (_, i) => i * 0.5 + k);
    files.set(entry.file, encodeNpy({ shape: entry.shape, data }));
  });
  return files;
}

/** Returns a valid model.json object with a two-layer loss history. */
export function exampleModelJson(): Record<string, unknown> {
  return {
    format: "ffads-model",
    version: 1,
    kind: "ff",
    architecture: {
      layerSizes: [784, 500, 500],
      normalization: "l2",
      goodness: "mean",
      activation: "relu",
    },
    recipe: {
      name: "paper",
      threshold: 2,
      labelValue: 1,
      inputStandardization: null,
    },
    training: {
      epochs: 3,
      batchSize: 50000,
      learningRate: 0.03,
      seed: 1,
      backend: "cpu",
    },
    dataset: {
      name: "mnist",
      imageShape: [28, 28],
      classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    },
    metrics: { trainAccuracy: 0.95, testAccuracy: 0.93 },
    lossHistory: {
      unit: "epoch",
      layers: [
        [1.4, 1.1, 0.9],
        [1.3, null, 0.8],
      ],
    },
    createdAt: "2025-01-02T03:04:05.000Z",
    weightsManifest: [{ paths: ["weights.bin"], weights: [] }],
  };
}
