import * as tf from "@tensorflow/tfjs-core";

import { FFError } from "./errors.ts";
import type { SeededRandom } from "./rng.ts";
import { NUM_CLASSES } from "./config.ts";

/** Raw labelled images as the datasets package returns them: bytes 0..255, row-major. */
export interface LabelledImages {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Pixels per image, e.g. 784 for 28 x 28. */
  pixels: number;
}

/** Throws an FFError when the arrays do not hold `count` images of `pixels` pixels and labels. */
export function validateLabelledImages(
  data: LabelledImages,
  what: string,
): void {
  if (data.images.length !== data.count * data.pixels) {
    throw new FFError(
      "INVALID_INPUT",
      `${what}: ${data.images.length} pixel values do not make ${data.count} images of ${data.pixels} pixels`,
    );
  }
  if (data.labels.length !== data.count) {
    throw new FFError(
      "INVALID_INPUT",
      `${what}: ${data.labels.length} labels for ${data.count} images`,
    );
  }
  for (let i = 0; i < data.labels.length; i++) {
    if (data.labels[i]! >= NUM_CLASSES) {
      throw new FFError(
        "INVALID_INPUT",
        `${what}: label ${data.labels[i]} of image ${i} is outside 0..${NUM_CLASSES - 1}`,
      );
    }
  }
}

/** Returns images `start` to `start + count - 1` as a [count, pixels] float tensor in [0, 1]. */
export function rawImagesToTensor(
  data: LabelledImages,
  start = 0,
  count = data.count - start,
): tf.Tensor2D {
  const bytes = data.images.subarray(
    start * data.pixels,
    (start + count) * data.pixels,
  );
  const values = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = bytes[i]! / 255;
  return tf.tensor2d(values, [count, data.pixels]);
}

/**
 * Draws one wrong label per image, uniformly among the 9 labels that differ from the true one, so
 * a negative never carries its true label.
 */
export function drawWrongLabels(
  labels: ArrayLike<number>,
  random: SeededRandom,
): Int32Array {
  const wrong = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    wrong[i] = (labels[i]! + 1 + random.nextInt(NUM_CLASSES - 1)) % NUM_CLASSES;
  }
  return wrong;
}
