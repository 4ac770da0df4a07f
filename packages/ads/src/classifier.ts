import type * as tf from "@tensorflow/tfjs-core";
import { FFNetwork, NUM_CLASSES } from "@ffads/ff-core";

/**
 * Any model that ADS can explain: a function from raw images to one score per class, where the
 * prediction is the class with the highest score (the first one on a tie).
 */
export interface Classifier {
  /** Pixels per image, e.g. 784. */
  inputSize: number;
  classCount: number;
  /**
   * Leading pixels of the flattened image that the classifier overwrites before use, such as an FF
   * network's label pixels. Occlusion never changes them. Defaults to 0.
   */
  protectedPixels?: number;
  /**
   * Scores of every class for raw images in [0, 1], [images, pixels] -> [images, classCount].
   * Each row's scores must depend on that row only, bit for bit, whatever the batch around it.
   * The fast path relies on this to reproduce the reference path's predictions exactly.
   */
  labelScores(raw: tf.Tensor2D): tf.Tensor2D;
}

/**
 * Wraps an FF network as a classifier scored by the plain definition: each label embedded in turn
 * and the full network run (`labelScoresPlain`).
 */
export function ffClassifier(network: FFNetwork): Classifier {
  return {
    inputSize: network.inputSize,
    classCount: NUM_CLASSES,
    protectedPixels: NUM_CLASSES,
    labelScores: (raw) => network.labelScoresPlain(raw),
  };
}

/** Returns the classifier of a model: FF networks are wrapped, others used as they are. */
export function asClassifier(model: FFNetwork | Classifier): Classifier {
  return model instanceof FFNetwork ? ffClassifier(model) : model;
}

/**
 * Returns the index of the highest score in `scores[offset .. offset + count)`, counted from
 * `offset`. The first one wins a tie, and both paths take predictions through this function.
 */
export function argMaxOf(
  scores: ArrayLike<number>,
  offset: number,
  count: number,
): number {
  let best = 0;
  for (let i = 1; i < count; i++) {
    if (scores[offset + i]! > scores[offset + best]!) best = i;
  }
  return best;
}
