/**
 * The fast path for FF networks (docs/ads.md, "The two paths"). Every (image, window) pair whose
 * window changes a pixel goes through up to three stages, and a stage settles a pair only when its
 * prediction provably equals the one the plain definition gives:
 *
 * 1. bound: the first layer's activity for all 10 labels is computed exactly from a rank-k update
 *    of the clean image product. The goodness of the layers above is bounded around its clean
 *    value, so a pair with a clear winner is settled without running them.
 * 2. update: the labels still in contention run through the layers above on the updated first
 *    layer, and a pair whose winner leads by more than the rounding tolerance is settled.
 * 3. plain: the remaining near-ties are scored by `labelScoresPlain`, as the reference path does.
 */
import * as tf from "@tensorflow/tfjs-core";
import { NUM_CLASSES, type FFNetwork } from "@ffads/ff-core";

import { argMaxOf } from "../classifier.ts";
import type { EngineContext } from "./context.ts";
import {
  disposeFastConstants,
  prepareFastConstants,
} from "./fast-constants.ts";
import { ChunkEngine } from "./fast-chunk.ts";
import {
  BandKernels,
  maxAbs,
  rawImages,
  stageBuffers,
  winsBy,
} from "./fast-support.ts";
import { PlainPairQueue } from "./generic.ts";

/**
 * Images per chunk: the chunk's clean activities, [images, 10, units] twice, stay in memory while
 * its windows are occluded.
 */
function chunkImages(context: EngineContext): number {
  return Math.max(1, Math.floor(context.options.batchSize / 8));
}

/**
 * Clean predictions equal to the plain definition's: scores from the shared first layer, with
 * every image whose top two scores are within the tolerance re-scored by `labelScoresPlain`.
 */
export async function cleanPredictionsFast(
  context: EngineContext,
  network: FFNetwork,
): Promise<Int32Array> {
  const { count, options } = context;
  const predictions = new Int32Array(count);
  const nearTies = new PlainPairQueue(context, (pair, scores, offset) => {
    predictions[pair.image] = argMaxOf(scores, offset, NUM_CLASSES);
  });
  const batchImages = Math.max(1, Math.floor(options.batchSize / NUM_CLASSES));
  for (let start = 0; start < count; start += batchImages) {
    const size = Math.min(batchImages, count - start);
    const scores = tf.tidy(() => {
      const raw = rawImages(context, start, size);
      return network.labelScores(tf.tensor2d(raw, [size, context.pixels]));
    });
    const values = scores.dataSync();
    scores.dispose();
    for (let image = 0; image < size; image++) {
      const offset = image * NUM_CLASSES;
      const winner = argMaxOf(values, offset, NUM_CLASSES);
      predictions[start + image] = winner;
      const tolerance = options.scoreTolerance * maxAbs(values, offset);
      if (!winsBy(values, offset, winner, 4 * tolerance))
        nearTies.push(start + image, null);
    }
    await context.progress("clean", start + size, count);
  }
  nearTies.flush();
  return predictions;
}

/** Occludes every (image, window) pair of an FF network and records the predictions. */
export async function occludeWindowsFast(
  context: EngineContext,
  network: FFNetwork,
  cleanPredictions: Int32Array,
): Promise<void> {
  const constants = prepareFastConstants(network);
  const bandKernels = new BandKernels(network.layers[0]!.kernel);
  try {
    const { count, grid } = context;
    const total = grid.windows.length * count;
    const rows = Array.from({ length: grid.gridShape[0] }, (_, gridRow) =>
      grid.windows.filter((window) => window.gridRow === gridRow),
    );
    const buffers = stageBuffers(
      context.options.batchSize,
      constants.units,
      constants.inputSize,
      constants.second !== null,
    );
    let completed = 0;
    for (let start = 0; start < count; start += chunkImages(context)) {
      const size = Math.min(chunkImages(context), count - start);
      const chunk = new ChunkEngine(
        context,
        network,
        constants,
        cleanPredictions,
        buffers,
        bandKernels,
        start,
        size,
      );
      for (const windows of rows) {
        chunk.occludeWindowRow(windows);
        completed += windows.length * size;
        await context.progress("windows", completed, total);
      }
      chunk.finish();
    }
  } finally {
    bandKernels.dispose();
    disposeFastConstants(constants);
  }
}
