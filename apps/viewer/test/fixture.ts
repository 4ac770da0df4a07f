/**
 * The run folder the viewer tests open. Its values are chosen so that colours at known cells can
 * be checked.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { encodeNpy } from "@ffads/ads/format";

/** The values `makeFixtureRun` writes, for the tests to check against. */
export const FIXTURE = {
  rows: 28,
  cols: 28,
  classNames: [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
  ],
  /** Cells of the dataset-level map with special values, as [row, col, accuracy points]. */
  adsCells: [
    [0, 0, 20],
    [0, 1, -20],
    [0, 2, 0],
    [0, 3, 10],
    [0, 4, -5],
    [0, 5, 0.1],
  ] as const,
  /** Every other cell of the dataset-level map is +1 where row + col is even, else -1. */
  adsBackground: (row: number, col: number) => ((row + col) % 2 === 0 ? 1 : -1),
  /** Every pixel of the map of class k is (k - 4.5) * 2 accuracy points; class 8 has no image. */
  classValue: (label: number) => (label - 4.5) * 2,
  emptyClass: 8,
  sampleLabels: [0, 1, 2, 3, 7, 9],
  samplePredictions: [0, 1, 5, 3, 7, 4],
  /** Sample images are 1 inside rows and cols 8 to 19 and 0 elsewhere. */
  sampleSquare: { from: 8, to: 19 },
  /** Every pixel of the per-image map of sample s is (s + 1) * 0.25. */
  sampleMapValue: (sample: number) => (sample + 1) * 0.25,
  cleanAccuracy: 0.9,
  window: 4,
  stride: 2,
  epochs: 30,
};

/**
 * Writes a run folder as `pnpm ff train` and `pnpm ff ads` lay it out (docs/formats.md):
 * `dir/model/` with model.json and weights.bin, and `dir/saliency/` with manifest.json and the
 * .npy arrays. Returns the paths of both folders.
 */
export async function makeFixtureRun(
  dir: string,
): Promise<{ modelDir: string; saliencyDir: string }> {
  const { rows, cols, classNames } = FIXTURE;
  const pixels = rows * cols;
  const modelDir = path.join(dir, "model");
  const saliencyDir = path.join(dir, "saliency");
  await mkdir(modelDir, { recursive: true });
  await mkdir(saliencyDir, { recursive: true });

  // A small FF network, so that weights.bin stays small: [784, 20, 20].
  const layerSizes = [pixels, 20, 20];
  const weights: { name: string; shape: number[]; dtype: string }[] = [];
  let weightCount = 0;
  for (let i = 0; i + 1 < layerSizes.length; i++) {
    weights.push({
      name: `layer${i}/kernel`,
      shape: [layerSizes[i]!, layerSizes[i + 1]!],
      dtype: "float32",
    });
    weights.push({
      name: `layer${i}/bias`,
      shape: [layerSizes[i + 1]!],
      dtype: "float32",
    });
    weightCount += layerSizes[i]! * layerSizes[i + 1]! + layerSizes[i + 1]!;
  }
  const lossCurve = (layer: number) =>
    Array.from(
      { length: FIXTURE.epochs },
      (_, epoch) => 1.4 * Math.exp(-epoch / (8 + layer * 4)) + 0.3,
    );
  const modelJson = {
    format: "ffads-model",
    version: 1,
    kind: "ff",
    architecture: {
      layerSizes,
      normalization: "l2",
      goodness: "mean",
      activation: "relu",
    },
    recipe: {
      name: "fixture",
      threshold: 2,
      labelValue: 1,
      inputStandardization: null,
      predictionSkipsFirstLayer: false,
      negatives: "random",
      schedule: "sequential",
    },
    training: {
      epochs: FIXTURE.epochs,
      batchSize: 1000,
      learningRate: 0.03,
      seed: 7,
      backend: "cpu",
      trainCount: 1000,
      wallTimeMs: 12345,
    },
    dataset: { name: "mnist", imageShape: [rows, cols], classNames },
    metrics: { trainAccuracy: 0.95, testAccuracy: 0.91 },
    lossHistory: { unit: "epoch", layers: [lossCurve(0), lossCurve(1)] },
    createdAt: "2025-01-02T03:04:05.000Z",
    weightsManifest: [{ paths: ["weights.bin"], weights }],
  };
  await writeFile(
    path.join(modelDir, "model.json"),
    JSON.stringify(modelJson, null, 2),
  );
  await writeFile(
    path.join(modelDir, "weights.bin"),
    new Uint8Array(weightCount * 4),
  );

  const ads = new Float32Array(pixels);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++)
      ads[row * cols + col] = FIXTURE.adsBackground(row, col);
  }
  for (const [row, col, value] of FIXTURE.adsCells)
    ads[row * cols + col] = value;

  const classCount = classNames.length;
  const classImageCount = Float32Array.from(
    { length: classCount },
    (_, label) => (label === FIXTURE.emptyClass ? 0 : 20),
  );
  const classAds = new Float32Array(classCount * pixels);
  const classCleanAccuracy = new Float32Array(classCount);
  for (let label = 0; label < classCount; label++) {
    const empty = label === FIXTURE.emptyClass;
    classAds.fill(
      empty ? Number.NaN : FIXTURE.classValue(label),
      label * pixels,
      (label + 1) * pixels,
    );
    classCleanAccuracy[label] = empty ? Number.NaN : FIXTURE.cleanAccuracy;
  }

  const sampleCount = FIXTURE.sampleLabels.length;
  const sampleImages = new Float32Array(sampleCount * pixels);
  const sampleMaps = new Float32Array(sampleCount * pixels);
  const { from, to } = FIXTURE.sampleSquare;
  for (let sample = 0; sample < sampleCount; sample++) {
    for (let row = from; row <= to; row++) {
      sampleImages.fill(
        1,
        sample * pixels + row * cols + from,
        sample * pixels + row * cols + to + 1,
      );
    }
    sampleMaps.fill(
      FIXTURE.sampleMapValue(sample),
      sample * pixels,
      (sample + 1) * pixels,
    );
  }
  const sampleCleanMargin = Float32Array.from([0.5, 0.4, -0.1, 0.3, 0.2, -0.3]);

  const gridRows = Math.ceil(rows / FIXTURE.stride);
  const gridCols = Math.ceil(cols / FIXTURE.stride);
  const occludedAccuracy = new Float32Array(gridRows * gridCols).fill(0.85);

  const arrays: Record<
    string,
    { shape: number[]; data: Float32Array; unit: string; meaning: string }
  > = {
    ads: {
      shape: [rows, cols],
      data: ads,
      unit: "accuracy points",
      meaning: "dataset-level ADS map",
    },
    occludedAccuracy: {
      shape: [gridRows, gridCols],
      data: occludedAccuracy,
      unit: "fraction",
      meaning: "accuracy with the window centred on each grid point",
    },
    classAds: {
      shape: [classCount, rows, cols],
      data: classAds,
      unit: "accuracy points",
      meaning: "ADS map per class",
    },
    classCleanAccuracy: {
      shape: [classCount],
      data: classCleanAccuracy,
      unit: "fraction",
      meaning: "clean accuracy per class",
    },
    classImageCount: {
      shape: [classCount],
      data: classImageCount,
      unit: "images",
      meaning: "images per class",
    },
    sampleImages: {
      shape: [sampleCount, rows, cols],
      data: sampleImages,
      unit: "raw pixel value in [0, 1]",
      meaning: "sample images",
    },
    sampleMaps: {
      shape: [sampleCount, rows, cols],
      data: sampleMaps,
      unit: "goodness",
      meaning: "drop in the true label's goodness margin",
    },
    sampleCleanMargin: {
      shape: [sampleCount],
      data: sampleCleanMargin,
      unit: "goodness",
      meaning: "clean goodness margin",
    },
  };

  const manifest = {
    format: "ffads-saliency",
    version: 1,
    createdAt: "2025-01-02T03:04:05.000Z",
    model: {
      path: "../model",
      kind: "ff",
      layerSizes,
      recipe: "fixture",
      testAccuracy: 0.91,
    },
    dataset: "mnist",
    split: "test",
    imageCount: 180,
    imageShape: [rows, cols],
    classNames,
    classes: classNames.map((_, label) => label),
    window: FIXTURE.window,
    stride: FIXTURE.stride,
    baseline: { kind: "zero", value: 0 },
    cleanAccuracy: FIXTURE.cleanAccuracy,
    arrays: Object.fromEntries(
      Object.entries(arrays).map(([name, array]) => [
        name,
        {
          file: `${name}.npy`,
          shape: array.shape,
          dtype: "float32",
          unit: array.unit,
          meaning: array.meaning,
        },
      ]),
    ),
    samples: FIXTURE.sampleLabels.map((label, i) => ({
      index: 100 + i,
      label,
      prediction: FIXTURE.samplePredictions[i],
      correct: label === FIXTURE.samplePredictions[i],
    })),
    figures: [],
  };
  for (const [name, array] of Object.entries(arrays)) {
    await writeFile(
      path.join(saliencyDir, `${name}.npy`),
      encodeNpy({ shape: array.shape, data: array.data }),
    );
  }
  await writeFile(
    path.join(saliencyDir, "manifest.json"),
    JSON.stringify(manifest, null, 2),
  );
  return { modelDir, saliencyDir };
}
