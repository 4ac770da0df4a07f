/**
 * Stages that use only the classifier's plain scoring: the whole reference path, and the fast path
 * for classifiers that are not FF networks (which only skips windows that change no pixel).
 */
import { argMaxOf } from "../classifier.ts";
import type { OcclusionWindow } from "../windows.ts";
import { plainBatchImages, type EngineContext } from "./context.ts";
import { marginOf, scorePairsPlain, windowChangesImage } from "./plain.ts";

/** A pair waiting in a `PlainPairQueue`; `window` is null for the clean image. */
export interface QueuedPair {
  image: number;
  window: OcclusionWindow | null;
}

/**
 * Collects pairs and scores them by the plain definition in batches of `plainBatchImages`,
 * handing each pair's row of scores to `onScores`.
 */
export class PlainPairQueue {
  private readonly pending: QueuedPair[] = [];
  private readonly batchImages: number;

  constructor(
    private readonly context: EngineContext,
    private readonly onScores: (
      pair: QueuedPair,
      scores: Float32Array,
      offset: number,
    ) => void,
  ) {
    this.batchImages = plainBatchImages(context);
  }

  get length(): number {
    return this.pending.length;
  }

  /** Adds a pair; returns true when that filled a batch, which was then scored. */
  push(image: number, window: OcclusionWindow | null): boolean {
    this.pending.push({ image, window });
    if (this.pending.length < this.batchImages) return false;
    this.flush();
    return true;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const { classifier, images, baseline } = this.context;
    const scores = scorePairsPlain(classifier, images, this.pending, baseline);
    const classCount = classifier.classCount;
    this.pending.forEach((pair, row) =>
      this.onScores(pair, scores, row * classCount),
    );
    this.pending.length = 0;
  }
}

/** Clean scores of every image by the plain definition, [count * classCount], and predictions. */
export async function cleanScoresPlain(
  context: EngineContext,
): Promise<{ scores: Float32Array; predictions: Int32Array }> {
  const { classifier, count } = context;
  const classCount = classifier.classCount;
  const scores = new Float32Array(count * classCount);
  const predictions = new Int32Array(count);
  const queue = new PlainPairQueue(context, (pair, batchScores, offset) => {
    scores.set(
      batchScores.subarray(offset, offset + classCount),
      pair.image * classCount,
    );
    predictions[pair.image] = argMaxOf(batchScores, offset, classCount);
  });
  for (let image = 0; image < count; image++) {
    if (queue.push(image, null))
      await context.progress("clean", image + 1, count);
  }
  queue.flush();
  await context.progress("clean", count, count);
  return { scores, predictions };
}

/** Destination of the sample images' goodness margins on the reference path. */
export interface SampleMarginTarget {
  /** Sample slot of each image position, or -1. */
  slotOfImage: Int32Array;
  labels: Uint8Array;
  cleanMargins: Float64Array;
  /** Margin drops, [samples, windows]. */
  drops: Float64Array;
}

/**
 * Occludes every (image, window) pair and records the predictions, window by window. With
 * `skipUnchanged`, a window that changes no pixel of an image gets the clean prediction without
 * scoring. Without it (the reference path) every pair is scored, and the margins of the sample
 * images are taken from the same scores.
 */
export async function occludeWindowsPlain(
  context: EngineContext,
  cleanPredictions: Int32Array,
  options: { skipUnchanged: boolean; samples: SampleMarginTarget | null },
): Promise<void> {
  const { classifier, images, labels, count, pixels, grid, tally, baseline } =
    context;
  const classCount = classifier.classCount;
  const windowCount = grid.windows.length;
  const samples = options.samples;
  const queue = new PlainPairQueue(context, (pair, scores, offset) => {
    const window = pair.window!;
    const label = labels[pair.image]!;
    tally.record(window.index, label, argMaxOf(scores, offset, classCount));
    context.pairs.plain += 1;
    const slot = samples === null ? -1 : samples.slotOfImage[pair.image]!;
    if (slot >= 0) {
      samples!.drops[slot * windowCount + window.index] =
        samples!.cleanMargins[slot]! -
        marginOf(scores, offset, classCount, label);
    }
  });

  const total = windowCount * count;
  let completed = 0;
  for (const window of grid.windows) {
    for (let image = 0; image < count; image++) {
      completed += 1;
      if (
        options.skipUnchanged &&
        !windowChangesImage(images, image * pixels, window, baseline)
      ) {
        tally.record(window.index, labels[image]!, cleanPredictions[image]!);
        context.pairs.unchanged += 1;
        continue;
      }
      if (queue.push(image, window))
        await context.progress("windows", completed, total);
    }
  }
  queue.flush();
  await context.progress("windows", total, total);
}

/**
 * Measures the drop of the true label's goodness margin for every window of each sample image, by
 * the plain definition. A window that changes no pixel leaves the scores, so the drop is 0.
 * Returns the clean margins and the drops, [samples, windows].
 */
export async function sampleMarginsPlain(
  context: EngineContext,
  samplePositions: readonly number[],
): Promise<{ cleanMargins: Float64Array; drops: Float64Array }> {
  const { classifier, images, labels, pixels, grid, baseline } = context;
  const classCount = classifier.classCount;
  const windowCount = grid.windows.length;
  const sampleCount = samplePositions.length;
  const cleanMargins = new Float64Array(sampleCount);
  const drops = new Float64Array(sampleCount * windowCount);

  const cleanScores = scorePairsPlain(
    classifier,
    images,
    samplePositions.map((image) => ({ image, window: null })),
    baseline,
  );
  samplePositions.forEach((image, slot) => {
    cleanMargins[slot] = marginOf(
      cleanScores,
      slot * classCount,
      classCount,
      labels[image]!,
    );
  });

  const slotOfImage = new Map<number, number[]>();
  samplePositions.forEach((image, slot) => {
    slotOfImage.set(image, [...(slotOfImage.get(image) ?? []), slot]);
  });
  const queue = new PlainPairQueue(context, (pair, scores, offset) => {
    const margin = marginOf(scores, offset, classCount, labels[pair.image]!);
    for (const slot of slotOfImage.get(pair.image)!) {
      drops[slot * windowCount + pair.window!.index] =
        cleanMargins[slot]! - margin;
    }
  });

  const uniqueImages = [...slotOfImage.keys()];
  const total = uniqueImages.length * windowCount;
  let completed = 0;
  for (const image of uniqueImages) {
    for (const window of grid.windows) {
      completed += 1;
      if (!windowChangesImage(images, image * pixels, window, baseline))
        continue;
      if (queue.push(image, window))
        await context.progress("samples", completed, total);
    }
  }
  queue.flush();
  await context.progress("samples", total, total);
  return { cleanMargins, drops };
}
