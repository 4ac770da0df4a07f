/**
 * Occlusion in raw pixel space and scoring by the classifier's plain definition: the building
 * blocks of the reference path, also used by the fast path for the pairs it does not settle itself.
 */
import * as tf from "@tensorflow/tfjs-core";

import { argMaxOf, type Classifier } from "../classifier.ts";
import type { OcclusionWindow } from "../windows.ts";

/**
 * Raw pixel value of each byte, as float32. ff-core's `rawImagesToTensor` computes the same
 * `byte / 255` rounded to float32, so an unchanged pixel has the same bits on every path.
 */
export const RAW_PIXEL_VALUES = Float32Array.from(
  { length: 256 },
  (_, byte) => byte / 255,
);

/** One occluded image: the image's position in the image set and the window's grid index. */
export interface Pair {
  image: number;
  window: number;
}

/**
 * Returns whether occluding `window` changes the image at `imageOffset` in `images` (bytes): some
 * pixel under the window differs from the baseline, compared as float32 raw values.
 */
export function windowChangesImage(
  images: Uint8Array,
  imageOffset: number,
  window: OcclusionWindow,
  baseline: Float32Array,
): boolean {
  const pixels = window.pixels;
  for (let i = 0; i < pixels.length; i++) {
    const pixel = pixels[i]!;
    if (RAW_PIXEL_VALUES[images[imageOffset + pixel]!] !== baseline[pixel])
      return true;
  }
  return false;
}

/**
 * Writes the raw image `image` of `images` into `target` at `targetOffset` with the pixels of
 * `window` set to the baseline, or unoccluded when `window` is null.
 */
export function writeOccludedImage(
  images: Uint8Array,
  pixelCount: number,
  image: number,
  window: OcclusionWindow | null,
  baseline: Float32Array,
  target: Float32Array,
  targetOffset: number,
): void {
  const source = image * pixelCount;
  for (let pixel = 0; pixel < pixelCount; pixel++) {
    target[targetOffset + pixel] = RAW_PIXEL_VALUES[images[source + pixel]!]!;
  }
  if (window === null) return;
  const pixels = window.pixels;
  for (let i = 0; i < pixels.length; i++) {
    target[targetOffset + pixels[i]!] = baseline[pixels[i]!]!;
  }
}

/**
 * Scores occluded images by the classifier's plain definition, [pairs.length * classCount]
 * row-major. A pair whose window is null is scored unoccluded.
 */
export function scorePairsPlain(
  classifier: Classifier,
  images: Uint8Array,
  pairs: readonly { image: number; window: OcclusionWindow | null }[],
  baseline: Float32Array,
): Float32Array {
  if (pairs.length === 0) return new Float32Array(0);
  const pixelCount = classifier.inputSize;
  const rows = new Float32Array(pairs.length * pixelCount);
  pairs.forEach((pair, row) => {
    writeOccludedImage(
      images,
      pixelCount,
      pair.image,
      pair.window,
      baseline,
      rows,
      row * pixelCount,
    );
  });
  const scores = tf.tidy(() =>
    classifier.labelScores(tf.tensor2d(rows, [pairs.length, pixelCount])),
  );
  try {
    return scores.dataSync() as Float32Array;
  } finally {
    scores.dispose();
  }
}

/** Returns the predicted class of each row of row-major scores. */
export function predictionsOf(
  scores: Float32Array,
  classCount: number,
): Int32Array {
  const rows = scores.length / classCount;
  const predictions = new Int32Array(rows);
  for (let row = 0; row < rows; row++) {
    predictions[row] = argMaxOf(scores, row * classCount, classCount);
  }
  return predictions;
}

/**
 * Returns the goodness margin of `label` in one row of scores: its score minus the highest score
 * among the other classes.
 */
export function marginOf(
  scores: ArrayLike<number>,
  offset: number,
  classCount: number,
  label: number,
): number {
  let other = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < classCount; i++) {
    if (i !== label && scores[offset + i]! > other) other = scores[offset + i]!;
  }
  return scores[offset + label]! - other;
}
