import {
  FFNetwork,
  validateLabelledImages,
  type LabelledImages,
} from "@ffads/ff-core";
import createDebug from "debug";

import { asClassifier, type Classifier } from "./classifier.ts";
import { cleanPredictionsFast, occludeWindowsFast } from "./engine/fast-ff.ts";
import type { EngineContext } from "./engine/context.ts";
import {
  cleanScoresPlain,
  occludeWindowsPlain,
  sampleMarginsPlain,
} from "./engine/generic.ts";
import { marginOf, RAW_PIXEL_VALUES } from "./engine/plain.ts";
import { accuracyMaps, OcclusionTally } from "./engine/tally.ts";
import {
  ADS_WORKER_MODULE,
  occludeOnThreads,
  threadsUnavailableReason,
} from "./engine/threads.ts";
import { AdsError } from "./errors.ts";
import type { AdsEventListener, AdsPairCounts, AdsStage } from "./events.ts";
import type { Baseline, SampleEntry } from "./format/manifest.ts";
import {
  baselineImage,
  describeBaseline,
  resolveOptions,
  type AdsOptions,
  type SampleSelection,
} from "./options.ts";
import { windowGrid, windowValuesToMap } from "./windows.ts";

const log = createDebug("ffads:ads");

export interface RunAdsInput {
  /** An FF network (fast path available) or any classifier (reference path and window skipping). */
  network: FFNetwork | Classifier;
  /** The images to explain, already filtered by split, limit and classes. */
  images: LabelledImages;
  /**
   * The index of each image in its split, for the manifest's sample entries. Defaults to the
   * position in `images`.
   */
  imageIndices?: ArrayLike<number>;
  /** One name per class; defaults to "0", "1", ... */
  classNames?: string[];
  options?: AdsOptions;
  onEvent?: AdsEventListener;
  /** When aborted, the run stops at the next batch and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** One sample image: its manifest entry and its position in the image set. */
export interface AdsSample extends SampleEntry {
  position: number;
}

/** Everything one ADS run measures; docs/formats.md names the arrays and their units. */
export interface AdsResult {
  method: "fast" | "reference";
  imageShape: [number, number];
  /** `[gridRows, gridCols]` of the window centres. */
  gridShape: [number, number];
  windowSize: number;
  stride: number;
  baseline: Baseline;
  imageCount: number;
  classNames: string[];
  /** Fraction of the images classified correctly without occlusion. */
  cleanAccuracy: number;
  /** The clean prediction of every image. */
  cleanPredictions: Int32Array;
  /** [rows * cols], accuracy points. */
  ads: Float32Array;
  /** [gridRows * gridCols], a fraction. */
  occludedAccuracy: Float32Array;
  /** [classes * rows * cols], accuracy points; NaN for a class with no image. */
  classAds: Float32Array;
  /** [classes], a fraction; NaN for a class with no image. */
  classCleanAccuracy: Float32Array;
  /** [classes] */
  classImageCount: Float32Array;
  samples: AdsSample[];
  /** [samples * rows * cols], raw pixel values in [0, 1]. */
  sampleImages: Float32Array;
  /** [samples * rows * cols], goodness (the score unit of the classifier). */
  sampleMaps: Float32Array;
  /** [samples], goodness. */
  sampleCleanMargin: Float32Array;
  pairs: AdsPairCounts;
  wallTimeMs: number;
}

/**
 * Measures Accuracy Differential Saliency (docs/ads.md): the dataset-level map, one map per class,
 * the accuracy with each window occluded, and goodness-margin maps for sample images, in one pass.
 *
 * With `options.threads` of 2 or more, the clean and windows stages of an FF network run on worker
 * threads that each load `workerModule` (tests substitute their own), and the samples stage runs
 * on the calling thread.
 *
 * @throws AdsError for invalid options or images. The run rejects with the signal's reason when
 * aborted, and with an Error naming the worker when a worker thread fails.
 */
export async function runAds(
  input: RunAdsInput,
  workerModule: URL = ADS_WORKER_MODULE,
): Promise<AdsResult> {
  const started = performance.now();
  const classifier = asClassifier(input.network);
  const data = input.images;
  validateInput(classifier, data);
  const options = resolveOptions(input.options ?? {}, data.pixels);
  const classCount = classifier.classCount;
  const classNames =
    input.classNames ?? Array.from({ length: classCount }, (_, i) => String(i));
  if (classNames.length !== classCount) {
    throw new AdsError(
      "INVALID_INPUT",
      `${classNames.length} class names were given for ${classCount} classes`,
    );
  }
  const network = input.network instanceof FFNetwork ? input.network : null;
  const method = options.method;
  const grid = windowGrid(
    options.imageShape,
    options.windowSize,
    options.stride,
    classifier.protectedPixels ?? 0,
  );
  const imageIndices = input.imageIndices ?? null;
  if (imageIndices !== null && imageIndices.length !== data.count) {
    throw new AdsError(
      "INVALID_INPUT",
      `${imageIndices.length} image indices were given for ${data.count} images`,
    );
  }
  const pairs: AdsPairCounts = {
    total: grid.windows.length * data.count,
    unchanged: 0,
    certified: 0,
    updated: 0,
    plain: 0,
  };
  const emit = input.onEvent ?? (() => {});
  const signal = input.signal;
  const context: EngineContext = {
    classifier,
    images: data.images,
    labels: data.labels,
    count: data.count,
    pixels: data.pixels,
    grid,
    baseline: baselineImage(
      options.baseline,
      data.images,
      data.count,
      data.pixels,
    ),
    options,
    tally: new OcclusionTally(grid.windows.length, classCount),
    pairs,
    progress: async (stage: AdsStage, completed: number, total: number) => {
      emit({ type: "progress", stage, completed, total });
      await yieldToEventLoop();
      if (signal?.aborted) {
        emit({
          type: "end",
          wallTimeMs: performance.now() - started,
          stopped: true,
          pairs,
        });
        signal.throwIfAborted();
      }
    },
  };
  signal?.throwIfAborted();

  const threadsReason = threadsUnavailableReason(
    network,
    options.threads,
    data.count,
  );
  if (options.threads > 1 && threadsReason !== null)
    log("running on the calling thread: %s", threadsReason);
  const threads =
    threadsReason === null ? Math.min(options.threads, data.count) : 1;
  emit({
    type: "start",
    method,
    imageCount: data.count,
    windowCount: grid.windows.length,
    totalPairs: pairs.total,
    threads,
  });

  const selectPositions = (cleanPredictions: Int32Array): number[] =>
    selectSamples(
      options.samples,
      data.labels,
      cleanPredictions,
      imageIndices,
      classCount,
    );
  let measured: Measured;
  if (threads > 1) {
    let cleanPredictions: Int32Array;
    try {
      cleanPredictions = await occludeOnThreads(context, network!, {
        threads,
        onProgress: (stage, completed, total) =>
          emit({ type: "progress", stage, completed, total }),
        signal,
        workerModule,
      });
    } catch (error) {
      if (signal?.aborted) {
        emit({
          type: "end",
          wallTimeMs: performance.now() - started,
          stopped: true,
          pairs,
        });
      }
      throw error;
    }
    const positions = selectPositions(cleanPredictions);
    const margins = await sampleMarginsPlain(context, positions);
    measured = { cleanPredictions, positions, ...margins };
  } else {
    measured = await measureOnCallingThread(context, network, selectPositions);
  }
  const { cleanPredictions, positions, cleanMargins, drops } = measured;

  const maps = accuracyMaps(grid, context.tally, data.labels, cleanPredictions);
  const result = assembleResult({
    method,
    grid,
    options,
    classNames,
    data,
    imageIndices,
    cleanPredictions,
    maps,
    positions,
    cleanMargins,
    drops,
    pairs,
  });
  result.wallTimeMs = performance.now() - started;
  log(
    "%s path: %d images, %d windows in %d ms, pairs %o",
    method,
    data.count,
    grid.windows.length,
    Math.round(result.wallTimeMs),
    pairs,
  );
  emit({ type: "end", wallTimeMs: result.wallTimeMs, stopped: false, pairs });
  return result;
}

/** The clean predictions, the sample positions they select, and the samples' margins. */
interface Measured {
  cleanPredictions: Int32Array;
  positions: number[];
  cleanMargins: Float64Array;
  /** Margin drops, [samples, windows]. */
  drops: Float64Array;
}

/** Runs every stage on the calling thread, filling `context.tally` and `context.pairs`. */
async function measureOnCallingThread(
  context: EngineContext,
  network: FFNetwork | null,
  selectPositions: (cleanPredictions: Int32Array) => number[],
): Promise<Measured> {
  // Clean predictions, then the samples they select, then every (image, window) pair.
  const { classifier, grid, options } = context;
  const classCount = classifier.classCount;
  const method = options.method;
  const useFastFF = method === "fast" && network !== null;
  let cleanPredictions: Int32Array;
  let cleanPlainScores: Float32Array | null = null;
  if (useFastFF) {
    cleanPredictions = await cleanPredictionsFast(context, network);
  } else {
    const clean = await cleanScoresPlain(context);
    cleanPredictions = clean.predictions;
    cleanPlainScores = clean.scores;
  }
  const positions = selectPositions(cleanPredictions);

  let cleanMargins: Float64Array;
  let drops: Float64Array;
  if (method === "reference") {
    cleanMargins = Float64Array.from(positions, (image) =>
      marginOf(
        cleanPlainScores!,
        image * classCount,
        classCount,
        context.labels[image]!,
      ),
    );
    drops = new Float64Array(positions.length * grid.windows.length);
    const slotOfImage = new Int32Array(context.count).fill(-1);
    positions.forEach((image, slot) => {
      if (slotOfImage[image] === -1) slotOfImage[image] = slot;
    });
    await occludeWindowsPlain(context, cleanPredictions, {
      skipUnchanged: false,
      samples: { slotOfImage, labels: context.labels, cleanMargins, drops },
    });
    copyDuplicateSlots(positions, drops, grid.windows.length);
  } else {
    if (useFastFF) await occludeWindowsFast(context, network, cleanPredictions);
    else
      await occludeWindowsPlain(context, cleanPredictions, {
        skipUnchanged: true,
        samples: null,
      });
    ({ cleanMargins, drops } = await sampleMarginsPlain(context, positions));
  }
  return { cleanPredictions, positions, cleanMargins, drops };
}

/**
 * Picks the sample images, as positions in the image set. By default: for each class in order,
 * the first `correctPerClass` correctly classified images, then the first `incorrectPerClass`
 * misclassified ones, in image order. Explicit indices are split indices, kept in their order.
 */
export function selectSamples(
  selection: SampleSelection,
  labels: Uint8Array,
  predictions: Int32Array,
  imageIndices: ArrayLike<number> | null,
  classCount: number,
): number[] {
  if ("indices" in selection) {
    const positionOf = new Map<number, number>();
    for (let position = labels.length - 1; position >= 0; position--) {
      positionOf.set(
        imageIndices === null ? position : imageIndices[position]!,
        position,
      );
    }
    return selection.indices.map((index) => {
      const position = positionOf.get(index);
      if (position === undefined) {
        throw new AdsError(
          "INVALID_OPTION",
          `sample index ${index} is not among the ${labels.length} images being explained`,
        );
      }
      return position;
    });
  }
  const correctPerClass = selection.correctPerClass ?? 2;
  const incorrectPerClass = selection.incorrectPerClass ?? 1;
  const positions: number[] = [];
  for (let label = 0; label < classCount; label++) {
    for (const [wantCorrect, limit] of [
      [true, correctPerClass],
      [false, incorrectPerClass],
    ] as const) {
      let chosenCount = 0;
      for (
        let image = 0;
        image < labels.length && chosenCount < limit;
        image++
      ) {
        if (labels[image] !== label) continue;
        if ((predictions[image] === label) !== wantCorrect) continue;
        positions.push(image);
        chosenCount += 1;
      }
    }
  }
  return positions;
}

function validateInput(classifier: Classifier, data: LabelledImages): void {
  try {
    validateLabelledImages(data, "images");
  } catch (error) {
    throw new AdsError("INVALID_INPUT", (error as Error).message);
  }
  if (data.count === 0) {
    throw new AdsError(
      "INVALID_INPUT",
      "the image set is empty; ADS needs at least one image",
    );
  }
  if (data.pixels !== classifier.inputSize) {
    throw new AdsError(
      "INVALID_INPUT",
      `images have ${data.pixels} pixels but the model takes ${classifier.inputSize} inputs`,
    );
  }
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i]! >= classifier.classCount) {
      throw new AdsError(
        "INVALID_INPUT",
        `label ${data.labels[i]} of image ${i} is outside 0..${classifier.classCount - 1}`,
      );
    }
  }
}

/** Copies the drops of an image chosen twice from its first slot, the one the reference path fills. */
function copyDuplicateSlots(
  positions: readonly number[],
  drops: Float64Array,
  windowCount: number,
): void {
  const firstSlot = new Map<number, number>();
  positions.forEach((image, slot) => {
    const first = firstSlot.get(image);
    if (first === undefined) {
      firstSlot.set(image, slot);
      return;
    }
    drops.copyWithin(
      slot * windowCount,
      first * windowCount,
      (first + 1) * windowCount,
    );
  });
}

function assembleResult(parts: {
  method: "fast" | "reference";
  grid: ReturnType<typeof windowGrid>;
  options: ReturnType<typeof resolveOptions>;
  classNames: string[];
  data: LabelledImages;
  imageIndices: ArrayLike<number> | null;
  cleanPredictions: Int32Array;
  maps: ReturnType<typeof accuracyMaps>;
  positions: number[];
  cleanMargins: Float64Array;
  drops: Float64Array;
  pairs: AdsPairCounts;
}): AdsResult {
  const { grid, data, positions } = parts;
  const [rows, cols] = grid.imageShape;
  const windowCount = grid.windows.length;
  const sampleImages = new Float32Array(positions.length * rows * cols);
  const sampleMaps = new Float32Array(positions.length * rows * cols);
  positions.forEach((image, slot) => {
    for (let pixel = 0; pixel < rows * cols; pixel++) {
      sampleImages[slot * rows * cols + pixel] =
        RAW_PIXEL_VALUES[data.images[image * data.pixels + pixel]!]!;
    }
    sampleMaps.set(
      windowValuesToMap(
        grid,
        parts.drops.subarray(slot * windowCount, (slot + 1) * windowCount),
      ),
      slot * rows * cols,
    );
  });
  const samples = positions.map((image): AdsSample => {
    const label = data.labels[image]!;
    const prediction = parts.cleanPredictions[image]!;
    return {
      index: parts.imageIndices === null ? image : parts.imageIndices[image]!,
      position: image,
      label,
      prediction,
      correct: label === prediction,
    };
  });
  return {
    method: parts.method,
    imageShape: [rows, cols],
    gridShape: grid.gridShape,
    windowSize: grid.windowSize,
    stride: grid.stride,
    baseline: describeBaseline(parts.options.baseline),
    imageCount: data.count,
    classNames: parts.classNames,
    cleanAccuracy: parts.maps.cleanAccuracy,
    cleanPredictions: parts.cleanPredictions,
    ads: parts.maps.ads,
    occludedAccuracy: parts.maps.occludedAccuracy,
    classAds: parts.maps.classAds,
    classCleanAccuracy: parts.maps.classCleanAccuracy,
    classImageCount: parts.maps.classImageCount,
    samples,
    sampleImages,
    sampleMaps,
    sampleCleanMargin: Float32Array.from(parts.cleanMargins),
    pairs: parts.pairs,
    wallTimeMs: 0,
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
