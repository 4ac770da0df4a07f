/**
 * Small networks and MNIST subsets for the tests of this package. Training a network takes a few
 * seconds on the wasm backend.
 */
import { loadDataset } from "@ffads/datasets";
import {
  presetRecipe,
  trainFF,
  type FFArchitecture,
  type FFNetwork,
  type FFSettings,
  type LabelledImages,
} from "@ffads/ff-core";

import type { AdsResult } from "./run.ts";

/** Returns `count` images of an MNIST split from `start`, as the engine takes them. */
export async function mnistImages(
  split: "train" | "test",
  count: number,
  start = 0,
): Promise<LabelledImages & { classNames: readonly string[] }> {
  const set = await loadDataset("mnist", split);
  const pixels = set.rows * set.cols;
  return {
    images: set.images.subarray(start * pixels, (start + count) * pixels),
    labels: set.labels.subarray(start, start + count),
    count,
    pixels,
    classNames: set.classNames,
  };
}

/**
 * Trains a small FF network for one epoch on the first `trainCount` MNIST training images, with
 * mini-batches of 50, Adam 0.03 and hard negatives (the tiny preset's settings).
 */
export async function trainSmallNetwork(
  architecture: Partial<FFArchitecture> & { layerSizes: number[] },
  settings: Partial<FFSettings> = {},
  trainCount = 2000,
  seed = 1,
): Promise<FFNetwork> {
  const recipe = presetRecipe("tiny");
  recipe.architecture = { ...recipe.architecture, ...architecture };
  recipe.settings = { ...recipe.settings, ...settings };
  recipe.training = {
    ...recipe.training,
    epochs: 1,
    batchSize: 50,
    learningRate: 0.03,
    learningRateDecay: 1,
    trainCount,
    seed,
  };
  const train = await mnistImages("train", trainCount);
  const result = await trainFF({ recipe, train });
  return result.network;
}

/**
 * Returns a hand-made ADS result on 28 x 28 images with stride 2 and three samples. Its values:
 * ads[p] = (p % 28) - 10 in accuracy points, class 9 without images (NaN maps), and every pixel
 * of sample s equal to s / 4.
 */
export function syntheticResult(): AdsResult {
  const size = 28 * 28;
  const classCount = 10;
  const sampleCount = 3;
  const ads = Float32Array.from({ length: size }, (_, p) => (p % 28) - 10);
  const classAds = new Float32Array(classCount * size);
  for (let label = 0; label < classCount; label++) {
    for (let p = 0; p < size; p++) {
      classAds[label * size + p] = label === 9 ? Number.NaN : (label - 4) * 0.5;
    }
  }
  const sampleImages = new Float32Array(sampleCount * size);
  const sampleMaps = new Float32Array(sampleCount * size);
  for (let s = 0; s < sampleCount; s++) {
    sampleImages.fill(s / 4, s * size, (s + 1) * size);
    for (let p = 0; p < size; p++)
      sampleMaps[s * size + p] = (s - 1) * (p / size);
  }
  return {
    method: "fast",
    imageShape: [28, 28],
    gridShape: [14, 14],
    windowSize: 3,
    stride: 2,
    baseline: { kind: "zero", value: 0 },
    imageCount: 90,
    classNames: Array.from({ length: classCount }, (_, i) => String(i)),
    cleanAccuracy: 0.9,
    cleanPredictions: new Int32Array(90),
    ads,
    occludedAccuracy: Float32Array.from({ length: 14 * 14 }, (_, i) => i / 196),
    classAds,
    classCleanAccuracy: Float32Array.from({ length: classCount }, (_, i) =>
      i === 9 ? Number.NaN : 0.9,
    ),
    classImageCount: Float32Array.from({ length: classCount }, (_, i) =>
      i === 9 ? 0 : 10,
    ),
    samples: [
      { index: 4, position: 4, label: 3, prediction: 3, correct: true },
      { index: 7, position: 7, label: 5, prediction: 6, correct: false },
      { index: 9, position: 9, label: 0, prediction: 0, correct: true },
    ],
    sampleImages,
    sampleMaps,
    sampleCleanMargin: Float32Array.from([0.5, -0.25, 1.5]),
    pairs: { total: 0, unchanged: 0, certified: 0, updated: 0, plain: 0 },
    wallTimeMs: 0,
  };
}
