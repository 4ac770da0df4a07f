import type { Baseline } from "./format/manifest.ts";
import { AdsError } from "./errors.ts";

/**
 * The occlusion baseline in raw pixel space [0, 1]: black (`zero`), the mean image of the images
 * being explained or a given one (`mean`), or one value for every pixel (`constant`).
 */
export type BaselineOption =
  | { kind: "zero" }
  | { kind: "mean"; image?: ArrayLike<number> }
  | { kind: "constant"; value: number };

/** Choice of the sample images that get a per-image map. */
export type SampleSelection =
  | {
      /** The first correctly classified images of each class, in image order. Default 2. */
      correctPerClass?: number;
      /** The first misclassified images of each class, in image order. Default 1. */
      incorrectPerClass?: number;
    }
  | {
      /** Indices in the split (as `imageIndices` numbers the images), in the order given. */
      indices: number[];
    };

export interface AdsOptions {
  /** Window size k in pixels; the window is k x k. Default 3. */
  windowSize?: number;
  /** Distance between window centres in pixels, along both axes. Default 1. */
  stride?: number;
  /** Default `{ kind: "zero" }`. */
  baseline?: BaselineOption;
  /**
   * `fast` (default) uses the FF-specific shortcuts of docs/ads.md for FF networks and skips
   * windows that change no pixel for any classifier. `reference` scores every (image, window)
   * pair by the plain definition. Both give the same maps.
   */
  method?: "fast" | "reference";
  /**
   * Upper bound on the rows of one network input batch. Memory grows with it, at about
   * batchSize x the widest layer x 4 bytes per tensor. Default 4096.
   */
  batchSize?: number;
  /**
   * Threads that occlude the images. With 2 or more, an FF network's images are split into that
   * many contiguous shards, each scored by a worker thread on the same backend, and the maps equal
   * those of 1 thread. Each worker keeps its own copy of the network and its own batches, so memory
   * grows with threads. Other classifiers, and backends other than cpu and wasm, run on the calling
   * thread. Default 1.
   */
  threads?: number;
  /** Image rows and columns. Default [28, 28]. */
  imageShape?: [number, number];
  /** Default: 2 correct and 1 misclassified image per class. */
  samples?: SampleSelection;
  /**
   * The largest float32 rounding error assumed for a score, relative to the largest score of the
   * image. The fast path settles a pair only when its scores are separated by more than this
   * margin and sends the rest to the plain definition. Default 1e-4.
   */
  scoreTolerance?: number;
  /**
   * When true (default), the fast path proves with a bound that many predictions equal the clean
   * one and skips the layers above the first for them.
   */
  certify?: boolean;
}

/** Options with every default filled in and checked. */
export interface ResolvedOptions {
  windowSize: number;
  stride: number;
  baseline: BaselineOption;
  method: "fast" | "reference";
  batchSize: number;
  threads: number;
  imageShape: [number, number];
  samples: SampleSelection;
  scoreTolerance: number;
  certify: boolean;
}

export const DEFAULT_WINDOW_SIZE = 3;
export const DEFAULT_STRIDE = 1;
export const DEFAULT_BATCH_SIZE = 4096;
export const DEFAULT_SCORE_TOLERANCE = 1e-4;
export const DEFAULT_SAMPLES = { correctPerClass: 2, incorrectPerClass: 1 };

/** Fills in the defaults and throws an AdsError naming the first invalid option. */
export function resolveOptions(
  options: AdsOptions,
  pixels: number,
): ResolvedOptions {
  const resolved: ResolvedOptions = {
    windowSize: options.windowSize ?? DEFAULT_WINDOW_SIZE,
    stride: options.stride ?? DEFAULT_STRIDE,
    baseline: options.baseline ?? { kind: "zero" },
    method: options.method ?? "fast",
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    threads: options.threads ?? 1,
    imageShape: options.imageShape ?? [28, 28],
    samples: options.samples ?? DEFAULT_SAMPLES,
    scoreTolerance: options.scoreTolerance ?? DEFAULT_SCORE_TOLERANCE,
    certify: options.certify ?? true,
  };
  validateGeometry(resolved, pixels);
  validateRunSettings(resolved);
  validateBaseline(resolved.baseline, pixels);
  validateSamples(resolved.samples);
  return resolved;
}

function validateGeometry(resolved: ResolvedOptions, pixels: number): void {
  const [rows, cols] = resolved.imageShape;
  if (!isPositiveInteger(rows) || !isPositiveInteger(cols)) {
    throw invalid(
      `image shape [${rows}, ${cols}] must be two positive integers`,
    );
  }
  if (rows * cols !== pixels) {
    throw invalid(
      `image shape [${rows}, ${cols}] has ${rows * cols} pixels but the images have ${pixels}; pass imageShape`,
    );
  }
  if (!isPositiveInteger(resolved.windowSize)) {
    throw invalid(
      `window size ${resolved.windowSize} must be a positive integer, e.g. 3`,
    );
  }
  if (resolved.windowSize > Math.max(rows, cols)) {
    throw invalid(
      `window size ${resolved.windowSize} exceeds the image size ${rows} x ${cols}`,
    );
  }
  if (!isPositiveInteger(resolved.stride)) {
    throw invalid(
      `stride ${resolved.stride} must be a positive integer, e.g. 1`,
    );
  }
}

function validateRunSettings(resolved: ResolvedOptions): void {
  if (resolved.method !== "fast" && resolved.method !== "reference") {
    throw invalid(
      `method "${String(resolved.method)}" is invalid; use "fast" or "reference"`,
    );
  }
  if (!isPositiveInteger(resolved.batchSize) || resolved.batchSize < 16) {
    throw invalid(
      `batch size ${resolved.batchSize} must be an integer of at least 16 rows`,
    );
  }
  if (!isPositiveInteger(resolved.threads)) {
    throw invalid(
      `threads ${resolved.threads} must be a positive integer; use 1 to run on the calling thread`,
    );
  }
  if (!(resolved.scoreTolerance > 0 && resolved.scoreTolerance < 1)) {
    throw invalid(
      `score tolerance ${resolved.scoreTolerance} must be in (0, 1), e.g. 1e-4`,
    );
  }
}

/** Returns the manifest's description of a baseline. */
export function describeBaseline(baseline: BaselineOption): Baseline {
  switch (baseline.kind) {
    case "zero":
      return { kind: "zero", value: 0 };
    case "mean":
      return { kind: "mean", value: null };
    case "constant":
      return { kind: "constant", value: baseline.value };
  }
}

/**
 * Returns the baseline value of every pixel as float32, in raw pixel space. The mean image is the
 * per-pixel mean of `images` (bytes 0..255) unless the option gives one.
 */
export function baselineImage(
  baseline: BaselineOption,
  images: Uint8Array,
  count: number,
  pixels: number,
): Float32Array {
  const values = new Float32Array(pixels);
  if (baseline.kind === "constant") values.fill(baseline.value);
  if (baseline.kind !== "mean") return values;
  if (baseline.image !== undefined) {
    values.set(Array.from(baseline.image));
    return values;
  }
  const sums = new Float64Array(pixels);
  for (let image = 0; image < count; image++) {
    const offset = image * pixels;
    for (let pixel = 0; pixel < pixels; pixel++) {
      sums[pixel]! += images[offset + pixel]!;
    }
  }
  for (let pixel = 0; pixel < pixels; pixel++) {
    values[pixel] = count === 0 ? 0 : sums[pixel]! / 255 / count;
  }
  return values;
}

function validateBaseline(baseline: BaselineOption, pixels: number): void {
  if (baseline.kind === "zero") return;
  if (baseline.kind === "constant") {
    if (!(baseline.value >= 0 && baseline.value <= 1)) {
      throw invalid(
        `constant baseline ${baseline.value} must be a raw pixel value in [0, 1]`,
      );
    }
    return;
  }
  if (baseline.kind === "mean") {
    const image = baseline.image;
    if (image === undefined) return;
    if (image.length !== pixels) {
      throw invalid(
        `mean baseline image has ${image.length} values but the images have ${pixels} pixels`,
      );
    }
    for (let pixel = 0; pixel < image.length; pixel++) {
      if (!(image[pixel]! >= 0 && image[pixel]! <= 1)) {
        throw invalid(
          `mean baseline image value ${image[pixel]} at pixel ${pixel} is outside [0, 1]`,
        );
      }
    }
    return;
  }
  throw invalid(
    `baseline kind "${String((baseline as { kind: unknown }).kind)}" is invalid; use "zero", "mean" or "constant"`,
  );
}

function validateSamples(samples: SampleSelection): void {
  if ("indices" in samples) {
    for (const index of samples.indices) {
      if (!Number.isInteger(index) || index < 0) {
        throw invalid(`sample index ${index} must be a non-negative integer`);
      }
    }
    return;
  }
  for (const [name, value] of Object.entries(samples)) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
      throw invalid(`samples.${name} ${value} must be a non-negative integer`);
    }
  }
}

function isPositiveInteger(value: number): boolean {
  return Number.isInteger(value) && value > 0;
}

function invalid(message: string): AdsError {
  return new AdsError("INVALID_OPTION", message);
}
