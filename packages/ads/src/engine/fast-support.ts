/** Types and helpers shared by the fast path's modules. */
import * as tf from "@tensorflow/tfjs-core";
import { NUM_CLASSES } from "@ffads/ff-core";

import type { OcclusionWindow } from "../windows.ts";
import type { EngineContext } from "./context.ts";
import { RAW_PIXEL_VALUES } from "./plain.ts";

/** A changed pair waiting for a stage. */
export interface PendingPair {
  /** Position in the chunk. */
  image: number;
  window: OcclusionWindow;
  /** Norm of the occluded embedded input (L2 length or RMS, plus NORM_EPSILON). */
  norm: number;
  /** Labels whose score may be the highest, ascending; set by the bound stage. */
  candidates: number[];
  /** Labels the next update batch scores. */
  queued: number[];
  /** Upper bound of each label's score from the bound stage, or null without certification. */
  upperBounds: Float64Array | null;
  /** Exact score of each label, valid where `scored` is 1. */
  scores: Float64Array;
  /** 1 for each label the update stage has scored. */
  scored: Uint8Array;
  /** Assumed rounding error of a score; NaN when the update stage should derive it. */
  tolerance: number;
  /** The occluded image product imageProduct', [units]; set by the bound stage. */
  occludedProduct: Float32Array | null;
}

/** Row slices of the first layer's kernel, kept for the run because wasm slices slowly. */
export class BandKernels {
  private readonly slices = new Map<string, tf.Tensor2D>();

  constructor(private readonly kernel: tf.Tensor2D) {}

  /** kernel[start : start + width], [width, units]. */
  rows(start: number, width: number): tf.Tensor2D {
    const key = `${start}:${width}`;
    let slice = this.slices.get(key);
    if (slice === undefined) {
      slice = tf.keep(
        tf.slice(this.kernel, [start, 0], [width, this.kernel.shape[1]]),
      );
      this.slices.set(key, slice);
    }
    return slice;
  }

  dispose(): void {
    for (const slice of this.slices.values()) slice.dispose();
    this.slices.clear();
  }
}

/** Returns the input rows `[start, start + width)` that the pairs' windows cover. */
export function bandOf(pairs: readonly PendingPair[]): [number, number] {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const pair of pairs) {
    const pixels = pair.window.pixels;
    start = Math.min(start, pixels[0]!);
    end = Math.max(end, pixels[pixels.length - 1]! + 1);
  }
  return [start, end - start];
}

/** Raw pixel values of images `start .. start + count - 1`, as float32. */
export function rawImages(
  context: EngineContext,
  start: number,
  count: number,
): Float32Array {
  const { images, pixels } = context;
  const raw = new Float32Array(count * pixels);
  const offset = start * pixels;
  for (let i = 0; i < raw.length; i++) {
    raw[i] = RAW_PIXEL_VALUES[images[offset + i]!]!;
  }
  return raw;
}

export function maxAbs(
  values: ArrayLike<number>,
  offset: number,
  count = NUM_CLASSES,
): number {
  let largest = 0;
  for (let i = 0; i < count; i++) {
    largest = Math.max(largest, Math.abs(values[offset + i]!));
  }
  return largest;
}

/** Returns whether `scores[offset + winner]` exceeds every other score of the row by more than `gap`. */
export function winsBy(
  scores: ArrayLike<number>,
  offset: number,
  winner: number,
  gap: number,
): boolean {
  for (let label = 0; label < NUM_CLASSES; label++) {
    if (
      label !== winner &&
      !(scores[offset + winner]! - scores[offset + label]! > gap)
    )
      return false;
  }
  return true;
}

/** The outputs of stage 1, one value (or `rank` values) per (pair, label) row. */
export interface BoundStageOutputs {
  /** |scaled|^2 with scaled = n' * a0'. */
  squares: Float32Array;
  /** scaled . N(a0); null for one layer. */
  normalizedDots: Float32Array | null;
  /** scaled @ Q, [rows, rank]; null for one layer. */
  projections: Float32Array | null;
}

/** Arrays reused by every batch of a chunk, sized for the largest batch. */
export interface StageBuffers {
  products: Float32Array;
  norms: Float32Array;
  changes: Float32Array;
  cleanNormalized: Float32Array;
  updateProducts: Float32Array;
  updateNorms: Float32Array;
  lower: Float64Array;
  upper: Float64Array;
}

export function stageBuffers(
  batchSize: number,
  units: number,
  inputSize: number,
  secondLayer: boolean,
): StageBuffers {
  // A stage runs once its rows reach batchSize, and a pair adds at most 10 rows.
  const maxPairs = Math.ceil(batchSize / NUM_CLASSES) + 1;
  const maxRows = batchSize + NUM_CLASSES;
  const rowValues = secondLayer ? maxPairs * NUM_CLASSES * units : 0;
  return {
    products: new Float32Array(maxPairs * units),
    norms: new Float32Array(maxPairs),
    changes: new Float32Array(maxPairs * inputSize),
    cleanNormalized: new Float32Array(rowValues),
    updateProducts: new Float32Array(maxRows * units),
    updateNorms: new Float32Array(maxRows),
    lower: new Float64Array(NUM_CLASSES),
    upper: new Float64Array(NUM_CLASSES),
  };
}
