/**
 * The fast path for FF networks (docs/ads.md, "The fast path"). Every (image, window) pair whose
 * window changes a pixel goes through up to three stages, and a stage settles a pair only when its
 * prediction provably equals the one the plain definition gives:
 *
 * 1. bound: the first layer's activity for all 10 labels is computed exactly from a rank-k update
 *    of the clean image product, and the second layer's goodness is bounded around its clean value
 *    by its exact first-order change plus a bound on the rest; a pair with a clear winner is
 *    settled without running the second layer.
 * 2. update: the labels still in contention run through the layers above on the updated first
 *    layer; a pair whose winner leads by more than the rounding tolerance is settled.
 * 3. plain: the remaining near-ties are scored by `labelScoresPlain`, as the reference path does.
 */
import * as tf from "@tensorflow/tfjs-core";
import { NORM_EPSILON, NUM_CLASSES, type FFNetwork } from "@ffads/ff-core";

import { argMaxOf } from "../classifier.ts";
import type { OcclusionWindow } from "../windows.ts";
import { goodnessChangeBound, normalizedChangeBound } from "./bounds.ts";
import type { EngineContext } from "./context.ts";
import {
  disposeFastConstants,
  prepareFastConstants,
  type FastConstants,
} from "./fast-constants.ts";
import { PlainPairQueue } from "./generic.ts";
import { RAW_PIXEL_VALUES, windowChangesImage } from "./plain.ts";

const ALL_LABELS = Array.from({ length: NUM_CLASSES }, (_, label) => label);

/** Relative margin added to every bound, for the float32 rounding of the bound's own inputs. */
const BOUND_SAFETY = 1e-3;

/**
 * Share of |e|^2 added to |e|^2 - |e Q|^2, the squared length of the part of e outside the
 * projection directions, so that float32 rounding cannot make it too small.
 */
const RESIDUAL_GUARD = 1e-5;

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

/** A changed pair waiting for a stage. */
interface PendingPair {
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
  /** Exact score of each label, NaN until the update stage computes it. */
  scores: Float64Array;
  /** Assumed rounding error of a score; NaN when the update stage should derive it. */
  tolerance: number;
  /** The occluded image product imageProduct', [units]; set by the bound stage. */
  occludedProduct: Float32Array | null;
}

/** The fast path's work on one chunk of images. */
class ChunkEngine {
  private readonly layerCount: number;
  private readonly inputSize: number;
  private readonly units: number;
  /** Standardised pixels of the chunk, [size, inputSize]. */
  private readonly inputs: Float32Array;
  /** The standardised baseline, [inputSize]. */
  private readonly baselineInputs: Float32Array;
  /** Image product pixels[10:] @ kernel[10:], [size, units]. */
  private readonly imageProduct: Float32Array;
  /** Squared L2 length of each embedded input, label pixel included, [size]. */
  private readonly squaredLength: Float32Array;
  /** Clean goodness of each layer, [size, 10, layers]. */
  private readonly goodness: Float32Array;
  /** Clean L2 length of each layer's activity, [size, 10, layers]. */
  private readonly activityLength: Float32Array;
  /** Normalised clean first-layer activity N(a0), [size, 10, units]; empty for one layer. */
  private readonly normalizedActivity: Float32Array;
  /** N(a0) @ Q, [size, 10, rank]. */
  private readonly normalizedProjection: Float32Array;
  /**
   * h @ Q, [size, 10, rank], where h = a1 @ K1^T and a1 is the clean second-layer activity, so
   * that a1 . (e K1) = e . h for any change e of the second layer's input.
   */
  private readonly gradientProjection: Float32Array;
  /** |h (I - Q Q^T)|, the length of h outside the projection directions, [size, 10]. */
  private readonly gradientResidual: Float32Array;
  /** |N(a0)|^2, [size, 10]. */
  private readonly normalizedSquares: Float32Array;
  private readonly boundQueue: PendingPair[] = [];
  private updateQueue: PendingPair[] = [];
  private updateRows = 0;
  private readonly plainQueue: PlainPairQueue;

  constructor(
    private readonly context: EngineContext,
    private readonly network: FFNetwork,
    private readonly constants: FastConstants,
    private readonly cleanPredictions: Int32Array,
    private readonly buffers: StageBuffers,
    private readonly bandKernels: BandKernels,
    private readonly start: number,
    private readonly size: number,
  ) {
    this.layerCount = network.layers.length;
    this.inputSize = network.inputSize;
    this.units = constants.units;
    const values = this.computeCleanActivity();
    this.inputs = values.inputs;
    this.baselineInputs = values.baselineInputs;
    this.imageProduct = values.imageProduct;
    this.squaredLength = values.squaredLength;
    this.goodness = values.goodness;
    this.activityLength = values.activityLength;
    this.normalizedActivity = values.normalizedActivity;
    this.normalizedProjection = values.normalizedProjection;
    this.gradientProjection = values.gradientProjection;
    this.gradientResidual = values.gradientResidual;
    this.normalizedSquares = values.normalizedSquares;
    this.plainQueue = new PlainPairQueue(context, (pair, scores, offset) => {
      this.record(
        pair.window!,
        pair.image - this.start,
        argMaxOf(scores, offset, NUM_CLASSES),
      );
      context.pairs.plain += 1;
    });
  }

  /** Settles every pair of the chunk with the windows of one grid row. */
  occludeWindowRow(windows: readonly OcclusionWindow[]): void {
    const { images, baseline, options } = this.context;
    for (const window of windows) {
      for (let image = 0; image < this.size; image++) {
        const imageOffset = (this.start + image) * this.inputSize;
        if (!windowChangesImage(images, imageOffset, window, baseline)) {
          this.record(
            window,
            image,
            this.cleanPredictions[this.start + image]!,
          );
          this.context.pairs.unchanged += 1;
          continue;
        }
        const pair: PendingPair = {
          image,
          window,
          norm: this.occludedNorm(image, window),
          candidates: [],
          queued: [],
          upperBounds: null,
          scores: new Float64Array(0),
          tolerance: Number.NaN,
          occludedProduct: null,
        };
        this.boundQueue.push(pair);
        if (this.boundQueue.length * NUM_CLASSES >= options.batchSize)
          this.boundStage();
      }
    }
    // The bound stage uses the kernel rows under this grid row's windows, so it finishes per row.
    this.boundStage();
  }

  /** Scores the pairs left for the update stage and the plain definition. */
  finish(): void {
    while (this.updateQueue.length > 0) this.updateStage();
    this.plainQueue.flush();
  }

  private record(
    window: OcclusionWindow,
    image: number,
    prediction: number,
  ): void {
    this.context.tally.record(
      window.index,
      this.context.labels[this.start + image]!,
      prediction,
    );
  }

  /**
   * Runs the clean chunk through the network for all 10 labels and keeps what the stages need.
   */
  private computeCleanActivity() {
    const { network, constants, size, inputSize } = this;
    const raw = rawImages(this.context, this.start, size);
    const second = constants.second;
    const outputs = tf.tidy(() => {
      const inputs = network.standardize(tf.tensor2d(raw, [size, inputSize]));
      const baselineInputs = network.standardize(
        tf.tensor2d(this.context.baseline, [1, inputSize]),
      );
      const pixels = tf.slice(inputs, [0, NUM_CLASSES], [-1, -1]);
      const imageProduct = tf.matMul(pixels, constants.kernelPixels);
      const squaredLength = tf.add(
        tf.sum(tf.square(pixels), 1),
        constants.labelValue ** 2,
      );

      const first = network.firstLayerAllLabels(inputs); // [size, 10, units]
      let activity = tf.reshape(first, [
        size * NUM_CLASSES,
        constants.units,
      ]) as tf.Tensor2D;
      const goodness: tf.Tensor1D[] = [];
      const lengths: tf.Tensor1D[] = [];
      let normalizedActivity: tf.Tensor2D = tf.zeros([0, constants.units]);
      let gradient: tf.Tensor2D = tf.zeros([0, constants.units]); // h
      for (let layer = 0; layer < network.layers.length; layer++) {
        if (layer > 0) {
          if (layer === 1) normalizedActivity = network.normalizeRows(activity);
          activity = network.layerActivity(layer, activity);
          if (layer === 1)
            gradient = tf.matMul(activity, second!.kernelTransposed);
        }
        goodness.push(network.goodness(activity));
        lengths.push(tf.sqrt(tf.sum(tf.square(activity), 1)) as tf.Tensor1D);
      }
      return [
        inputs,
        baselineInputs,
        imageProduct,
        squaredLength,
        tf.stack(goodness, 1),
        tf.stack(lengths, 1),
        normalizedActivity,
        ...this.projectOnDirections(normalizedActivity, gradient),
        tf.sum(tf.square(normalizedActivity), 1),
      ];
    });
    const [
      inputs,
      baselineInputs,
      imageProduct,
      squaredLength,
      goodness,
      activityLength,
      normalizedActivity,
      normalizedProjection,
      gradientProjection,
      gradientResidual,
      normalizedSquares,
    ] = outputs.map((tensor) => {
      const data = tensor.dataSync() as Float32Array;
      tensor.dispose();
      return data;
    });
    return {
      inputs: inputs!,
      baselineInputs: baselineInputs!,
      imageProduct: imageProduct!,
      squaredLength: squaredLength!,
      goodness: goodness!,
      activityLength: activityLength!,
      normalizedActivity: normalizedActivity!,
      normalizedProjection: normalizedProjection!,
      gradientProjection: gradientProjection!,
      gradientResidual: gradientResidual!,
      normalizedSquares: normalizedSquares!,
    };
  }

  /** Returns N(a0) @ Q, h @ Q and |h (I - Q Q^T)|, or empty tensors for one layer. */
  private projectOnDirections(
    normalizedActivity: tf.Tensor2D,
    gradient: tf.Tensor2D,
  ): tf.Tensor[] {
    const second = this.constants.second;
    if (second === null) return [tf.zeros([0]), tf.zeros([0]), tf.zeros([0])];
    const gradientProjection = tf.matMul(gradient, second.directions);
    const residual = tf.sub(
      gradient,
      tf.matMul(gradientProjection, tf.transpose(second.directions)),
    );
    return [
      tf.matMul(normalizedActivity, second.directions),
      gradientProjection,
      tf.sqrt(tf.sum(tf.square(residual), 1)),
    ];
  }

  /**
   * Returns the norm of the occluded embedded input, updated from the squared length:
   * |x'|^2 = |x|^2 - sum(x_w^2) + sum(b_w^2) over the window's pixels, in standardised space.
   */
  private occludedNorm(image: number, window: OcclusionWindow): number {
    const pixels = window.pixels;
    const offset = image * this.inputSize;
    let removed = 0;
    let added = 0;
    for (let i = 0; i < pixels.length; i++) {
      const input = this.inputs[offset + pixels[i]!]!;
      const baseline = this.baselineInputs[pixels[i]!]!;
      removed += input * input;
      added += baseline * baseline;
    }
    const squaredLength = Math.max(
      0,
      this.squaredLength[image]! - removed + added,
    );
    const width =
      this.network.architecture.normalization === "rms" ? this.inputSize : 1;
    return Math.sqrt(squaredLength / width) + NORM_EPSILON;
  }

  /**
   * Fills `changes` ([pairs, bandWidth]) with each pair's standardised pixel changes, input minus
   * baseline, in the columns of its window's pixels, counted from `bandStart`.
   */
  private writeChanges(
    pairs: readonly PendingPair[],
    bandStart: number,
    bandWidth: number,
    changes: Float32Array,
  ): void {
    changes.fill(0);
    pairs.forEach((pair, row) => {
      const inputOffset = pair.image * this.inputSize;
      for (const pixel of pair.window.pixels) {
        changes[row * bandWidth + pixel - bandStart] =
          this.inputs[inputOffset + pixel]! - this.baselineInputs[pixel]!;
      }
    });
  }

  /**
   * Stage 1: the exact first layer for all 10 labels, and bounds on the layers above. For the
   * second layer, with e = N(a0') - N(a0) the change of its input and g1 = w |relu(z)|^2,
   * convexity gives g1' - g1 = w (2 a1 . (e K1) + r) with 0 <= r <= |e K1|^2. Both a1 . (e K1) =
   * e . h and |e K1| are bounded through the projection directions Q (`secondLayerChange`).
   */
  private boundStage(): void {
    const pairs = this.boundQueue;
    if (pairs.length === 0) return;
    const { units, constants, buffers } = this;
    const second = constants.second;
    const [bandStart, bandWidth] = bandOf(pairs);
    const pairCount = pairs.length;
    const rowCount = pairCount * NUM_CLASSES;
    const labelBlock = NUM_CLASSES * units;

    const products = buffers.products.subarray(0, pairCount * units);
    const norms = buffers.norms.subarray(0, pairCount);
    const changes = buffers.changes.subarray(0, pairCount * bandWidth);
    const cleanNormalized = buffers.cleanNormalized.subarray(
      0,
      rowCount * units,
    );
    pairs.forEach((pair, i) => {
      products.set(
        this.imageProduct.subarray(
          pair.image * units,
          (pair.image + 1) * units,
        ),
        i * units,
      );
      norms[i] = pair.norm;
      if (second) {
        const block = pair.image * labelBlock;
        cleanNormalized.set(
          this.normalizedActivity.subarray(block, block + labelBlock),
          i * labelBlock,
        );
      }
    });
    this.writeChanges(pairs, bandStart, bandWidth, changes);

    const outputs = tf.tidy(() => {
      const product = tf.sub(
        tf.tensor2d(products, [pairCount, units]),
        tf.matMul(
          tf.tensor2d(changes, [pairCount, bandWidth]),
          this.bandKernels.rows(bandStart, bandWidth),
        ),
      ); // imageProduct', [pairs, units]
      // relu((P' + v k_l) / n' + b) = relu(P' + v k_l + b n') / n': the rows are n' * a0'.
      const shifted = tf.add(
        product,
        tf.mul(
          tf.tensor2d(norms, [pairCount, 1]),
          this.network.layers[0]!.bias,
        ),
      );
      const scaled = tf.reshape(
        tf.relu(tf.add(tf.expandDims(shifted, 1), constants.labelRows)),
        [rowCount, units],
      ) as tf.Tensor2D;
      const squares = tf.sum(tf.square(scaled), 1);
      if (!second) return [product, squares];
      return [
        product,
        squares,
        tf.sum(
          tf.mul(scaled, tf.tensor2d(cleanNormalized, [rowCount, units])),
          1,
        ),
        tf.matMul(scaled, second.directions),
      ];
    });
    const [occludedProducts, squares, normalizedDots, projections] =
      outputs.map((tensor) => {
        const data = tensor.dataSync() as Float32Array;
        tensor.dispose();
        return data;
      });

    const stage: BoundStageOutputs = {
      squares: squares!,
      normalizedDots: normalizedDots ?? null,
      projections: projections ?? null,
    };
    pairs.forEach((pair, i) => {
      pair.occludedProduct = occludedProducts!.subarray(
        i * units,
        (i + 1) * units,
      );
      this.boundPair(pair, i * NUM_CLASSES, stage);
    });
    this.boundQueue.length = 0;
  }

  /** Turns stage 1's outputs for one pair into score intervals, then settles or forwards it. */
  private boundPair(
    pair: PendingPair,
    firstRow: number,
    stage: BoundStageOutputs,
  ): void {
    const c = this.constants;
    const { lower, upper } = this.buffers;
    const normalization = this.network.architecture.normalization;
    const lengthScale = normalization === "rms" ? Math.sqrt(this.units) : 1;
    let scale = 0;
    for (let label = 0; label < NUM_CLASSES; label++) {
      const row = firstRow + label;
      const cleanRow = pair.image * NUM_CLASSES + label;
      const squares = stage.squares[row]!;
      let low = c.counted[0]
        ? (c.goodnessWeights[0]! * squares) / (pair.norm * pair.norm)
        : 0;
      let high = low;
      if (c.second) {
        // N(a0') = scaled / (norm(scaled) + epsilon * n'), with scaled = n' * a0'.
        const inverse =
          1 / (Math.sqrt(squares) / lengthScale + NORM_EPSILON * pair.norm);
        const [lowChange, highChange, preActivationChange] =
          this.secondLayerChange(
            cleanRow,
            inverse,
            squares,
            stage.normalizedDots![row]!,
            stage.projections!,
            row,
          );
        const cleanOffset = cleanRow * this.layerCount;
        const cleanSecond = this.goodness[cleanOffset + 1]!;
        const weight = c.goodnessWeights[1]!;
        low += cleanSecond + weight * lowChange;
        high += cleanSecond + weight * highChange;
        const deeper = this.deeperLayersChange(
          cleanOffset,
          preActivationChange,
        );
        low += deeper.cleanGoodness - deeper.change;
        high += deeper.cleanGoodness + deeper.change;
      }
      lower[label] = low;
      upper[label] = high;
      scale = Math.max(scale, Math.abs(low), Math.abs(high));
    }

    if (!this.context.options.certify) {
      pair.candidates = ALL_LABELS.slice();
      pair.queued = ALL_LABELS.slice();
      pair.scores = new Float64Array(NUM_CLASSES).fill(Number.NaN);
      this.queueUpdate(pair);
      return;
    }

    // The reference's scores lie within [lower, upper] widened by twice the rounding tolerance:
    // once for the rounding of this path's values and once for the reference's own.
    const tolerance = this.context.options.scoreTolerance * scale;
    let winner = 0;
    for (let label = 0; label < NUM_CLASSES; label++) {
      lower[label] = lower[label]! - 2 * tolerance;
      upper[label] = upper[label]! + 2 * tolerance;
      if (lower[label]! > lower[winner]!) winner = label;
    }
    let certified = true;
    for (let label = 0; label < NUM_CLASSES; label++) {
      if (label !== winner && !(lower[winner]! > upper[label]!))
        certified = false;
    }
    if (certified) {
      this.record(pair.window, pair.image, winner);
      this.context.pairs.certified += 1;
      return;
    }
    if (c.second === null) {
      // With one layer the intervals hold the exact scores, so only the plain definition is left.
      this.plainQueue.push(this.start + pair.image, pair.window);
      return;
    }
    // Score the likely winner first: often it alone beats every other upper bound.
    pair.tolerance = tolerance;
    for (let label = 0; label < NUM_CLASSES; label++) {
      if (upper[label]! >= lower[winner]!) pair.candidates.push(label);
    }
    pair.queued = [winner];
    pair.upperBounds = Float64Array.from(upper);
    pair.scores = new Float64Array(NUM_CLASSES).fill(Number.NaN);
    this.queueUpdate(pair);
  }

  /**
   * Bounds the change of |a1|^2 for the row of one (pair, label), with e = N(a0') - N(a0) =
   * inverse * scaled - N(a0). Returns [low, high, bound on |e K1|] with low <= 2 a1 . (e K1) and
   * 2 a1 . (e K1) + |e K1|^2 <= high. The dot products of `scaled` come from stage 1, those of
   * N(a0) and h from the clean pass.
   */
  private secondLayerChange(
    cleanRow: number,
    inverse: number,
    squares: number,
    normalizedDot: number,
    projections: Float32Array,
    row: number,
  ): [number, number, number] {
    const second = this.constants.second!;
    const rank = second.rank;
    const cleanSquares = this.normalizedSquares[cleanRow]!;
    const newSquares = inverse * inverse * squares;
    const changeSquares =
      newSquares - 2 * inverse * normalizedDot + cleanSquares;
    let projectedSquares = 0;
    let gainForm = 0;
    let projectedGradientDot = 0; // (e Q) . (h Q)
    for (let i = 0; i < rank; i++) {
      const ci =
        inverse * projections[row * rank + i]! -
        this.normalizedProjection[cleanRow * rank + i]!;
      projectedSquares += ci * ci;
      gainForm += second.directionGains[i]! * ci * ci;
      projectedGradientDot +=
        ci * this.gradientProjection[cleanRow * rank + i]!;
    }
    gainForm += second.offDiagonalNorm * projectedSquares;
    // |e|^2 and |e Q|^2 are differences of terms near |N|^2 = 1, so their float32 rounding is
    // bounded in proportion to those terms, not to |e|^2.
    const residual = Math.sqrt(
      Math.max(0, changeSquares - projectedSquares) +
        RESIDUAL_GUARD * (newSquares + cleanSquares),
    );
    const preActivationChange =
      (Math.sqrt(Math.max(0, gainForm)) + second.residualNorm * residual) *
      (1 + BOUND_SAFETY);
    // e . h = (e Q) . (h Q) + e (I - QQ^T) . h (I - QQ^T), and Cauchy-Schwarz bounds the last term.
    const residualDot =
      residual * this.gradientResidual[cleanRow]! * (1 + BOUND_SAFETY);
    return [
      2 * (projectedGradientDot - residualDot),
      2 * (projectedGradientDot + residualDot) +
        preActivationChange * preActivationChange,
      preActivationChange,
    ];
  }

  /**
   * Carries a bound on the second layer's activity change up through the deeper layers with
   * spectral norms; returns their clean goodness and the bound on its change, summed.
   */
  private deeperLayersChange(
    cleanOffset: number,
    secondChange: number,
  ): { cleanGoodness: number; change: number } {
    const c = this.constants;
    const sizes = this.network.architecture.layerSizes;
    let change = secondChange;
    let cleanGoodness = 0;
    let goodnessChange = 0;
    for (let layer = 2; layer < this.layerCount; layer++) {
      change =
        c.spectralNorms[layer]! *
        normalizedChangeBound(
          this.activityLength[cleanOffset + layer - 1]!,
          change,
          sizes[layer]!,
          this.network.architecture.normalization,
          NORM_EPSILON,
        );
      cleanGoodness += this.goodness[cleanOffset + layer]!;
      goodnessChange +=
        goodnessChangeBound(
          this.activityLength[cleanOffset + layer]!,
          change,
          c.goodnessWeights[layer]!,
        ) *
        (1 + BOUND_SAFETY);
    }
    return { cleanGoodness, change: goodnessChange };
  }

  private queueUpdate(pair: PendingPair): void {
    this.updateQueue.push(pair);
    this.updateRows += pair.queued.length;
    if (this.updateRows >= this.context.options.batchSize) this.updateStage();
  }

  /**
   * Stage 2: scores the candidate labels of the pending pairs by running the layers above on the
   * updated first layer, and settles each pair whose winner leads by more than the tolerance.
   */
  private updateStage(): void {
    const pairs = this.updateQueue;
    if (pairs.length === 0) return;
    const { units, constants } = this;
    const rows = this.updateRows;
    // Settling may queue pairs again, into a fresh queue.
    this.updateQueue = [];
    this.updateRows = 0;
    // occludedProduct + v * kernel[label], the first layer's product for each candidate label
    const products = this.buffers.updateProducts.subarray(0, rows * units);
    const norms = this.buffers.updateNorms.subarray(0, rows);
    let row = 0;
    for (const pair of pairs) {
      const occluded = pair.occludedProduct!;
      for (const label of pair.queued) {
        const labelOffset = label * units;
        const rowOffset = row * units;
        for (let unit = 0; unit < units; unit++) {
          products[rowOffset + unit] =
            occluded[unit]! +
            constants.labelValue *
              constants.labelRowValues[labelOffset + unit]!;
        }
        norms[row] = pair.norm;
        row += 1;
      }
    }

    const totals = tf.tidy(() => {
      const network = this.network;
      let activity = tf.relu(
        tf.add(
          tf.div(
            tf.tensor2d(products, [rows, units]),
            tf.tensor2d(norms, [rows, 1]),
          ),
          network.layers[0]!.bias,
        ),
      ) as tf.Tensor2D;
      const goodness: tf.Tensor1D[] = [];
      for (let layer = 0; layer < network.layers.length; layer++) {
        if (layer > 0) activity = network.layerActivity(layer, activity);
        if (constants.counted[layer]) goodness.push(network.goodness(activity));
      }
      return goodness.length === 1 ? goodness[0]! : tf.addN(goodness);
    });
    const scores = totals.dataSync() as Float32Array;
    totals.dispose();

    row = 0;
    for (const pair of pairs) {
      for (const label of pair.queued) pair.scores[label] = scores[row++]!;
      pair.queued = [];
      this.settleUpdated(pair);
    }
  }

  /**
   * Settles a pair from the exact scores computed so far, queues its remaining candidates, or
   * sends it to the plain definition. With every score within `tolerance` of the exact value on
   * both paths, the best scored label must lead each other scored label by more than 4
   * tolerances, and every unscored label's upper bound (which already includes 2) by more than 2.
   */
  private settleUpdated(pair: PendingPair): void {
    const scores = pair.scores;
    let best = -1;
    let largest = 0;
    for (let label = 0; label < NUM_CLASSES; label++) {
      const score = scores[label]!;
      if (Number.isNaN(score)) continue;
      if (best < 0 || score > scores[best]!) best = label;
      largest = Math.max(largest, Math.abs(score));
    }
    const tolerance = Number.isNaN(pair.tolerance)
      ? this.context.options.scoreTolerance * largest
      : pair.tolerance;
    const winning = scores[best]!;
    let settled = true;
    for (let label = 0; label < NUM_CLASSES && settled; label++) {
      if (label === best) continue;
      const score = scores[label]!;
      settled = Number.isNaN(score)
        ? winning - 2 * tolerance > pair.upperBounds![label]!
        : winning - score > 4 * tolerance;
    }
    if (settled) {
      this.record(pair.window, pair.image, best);
      this.context.pairs.updated += 1;
      return;
    }
    const unscored = pair.candidates.filter((label) =>
      Number.isNaN(scores[label]!),
    );
    if (unscored.length > 0) {
      pair.queued = unscored;
      this.queueUpdate(pair);
      return;
    }
    this.plainQueue.push(this.start + pair.image, pair.window);
  }
}

/** Row slices of the first layer's kernel, kept for the run because wasm slices slowly. */
class BandKernels {
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

/** The input rows `[start, start + width)` that the pairs' windows cover. */
function bandOf(pairs: readonly PendingPair[]): [number, number] {
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
function rawImages(
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

function maxAbs(
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

/** Whether `scores[offset + winner]` exceeds every other score of the row by more than `gap`. */
function winsBy(
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
interface BoundStageOutputs {
  /** |scaled|^2 with scaled = n' * a0'. */
  squares: Float32Array;
  /** scaled . N(a0); null for one layer. */
  normalizedDots: Float32Array | null;
  /** scaled @ Q, [rows, rank]; null for one layer. */
  projections: Float32Array | null;
}

/** Arrays reused by every batch of a chunk, sized for the largest batch. */
interface StageBuffers {
  products: Float32Array;
  norms: Float32Array;
  changes: Float32Array;
  cleanNormalized: Float32Array;
  updateProducts: Float32Array;
  updateNorms: Float32Array;
  lower: Float64Array;
  upper: Float64Array;
}

function stageBuffers(
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
