/** The fast path's work on one chunk of images: the bound, update and plain stages. */
import * as tf from "@tensorflow/tfjs-core";
import { NORM_EPSILON, NUM_CLASSES, type FFNetwork } from "@ffads/ff-core";

import { argMaxOf } from "../classifier.ts";
import type { OcclusionWindow } from "../windows.ts";
import { goodnessChangeBound, normalizedChangeBound } from "./bounds.ts";
import type { EngineContext } from "./context.ts";
import type { FastConstants } from "./fast-constants.ts";
import {
  bandOf,
  rawImages,
  type BandKernels,
  type BoundStageOutputs,
  type PendingPair,
  type StageBuffers,
} from "./fast-support.ts";
import { PlainPairQueue } from "./generic.ts";
import { windowChangesImage } from "./plain.ts";

const ALL_LABELS = Array.from({ length: NUM_CLASSES }, (_, label) => label);
const NO_SCORES = new Float64Array(0);
const NO_LABELS = new Uint8Array(0);

/** Relative margin added to every bound, for the float32 rounding of the bound's own inputs. */
const BOUND_SAFETY = 1e-3;

/**
 * Share of |N(a0')|^2 + |N(a0)|^2 added to |e|^2 - |e Q|^2, the squared length of the part of e
 * outside the projection directions, so that float32 rounding cannot make it too small.
 */
const RESIDUAL_GUARD = 1e-5;

/** The fast path's work on one chunk of images. */
export class ChunkEngine {
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
          // Allocated only for the few pairs that reach the update stage.
          scores: NO_SCORES,
          scored: NO_LABELS,
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
      pair.scores = new Float64Array(NUM_CLASSES);
      pair.scored = new Uint8Array(NUM_CLASSES);
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
    pair.scores = new Float64Array(NUM_CLASSES);
    pair.scored = new Uint8Array(NUM_CLASSES);
    pair.upperBounds = Float64Array.from(upper);
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
   * spectral norms. Returns their clean goodness and the bound on its change, both summed.
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
      for (const label of pair.queued) {
        pair.scores[label] = scores[row++]!;
        pair.scored[label] = 1;
      }
      pair.queued = [];
      this.settleUpdated(pair);
    }
  }

  /**
   * Settles a pair from the exact scores computed so far, queues its remaining candidates, or
   * sends it to the plain definition. Every score is assumed within `tolerance` of the exact
   * value on both paths. So the best scored label must lead each other scored label by more than
   * 4 tolerances, and every unscored label's upper bound (which already includes 2) by more than 2.
   */
  private settleUpdated(pair: PendingPair): void {
    const { scores, scored } = pair;
    let best = -1;
    let largest = 0;
    for (let label = 0; label < NUM_CLASSES; label++) {
      if (!scored[label]) continue;
      if (best < 0 || scores[label]! > scores[best]!) best = label;
      largest = Math.max(largest, Math.abs(scores[label]!));
    }

    const tolerance = Number.isNaN(pair.tolerance)
      ? this.context.options.scoreTolerance * largest
      : pair.tolerance;
    const winning = scores[best]!;
    let settled = true;
    for (let label = 0; label < NUM_CLASSES && settled; label++) {
      if (label === best) continue;
      settled = scored[label]
        ? winning - scores[label]! > 4 * tolerance
        : winning - 2 * tolerance > pair.upperBounds![label]!;
    }

    if (settled) {
      this.record(pair.window, pair.image, best);
      this.context.pairs.updated += 1;
      return;
    }
    // A label whose upper bound the best score already beats needs no exact score, whichever
    // label ends up best, because the best score can only grow.
    const unscored = pair.candidates.filter(
      (label) =>
        !scored[label] &&
        !(winning - 2 * tolerance > pair.upperBounds![label]!),
    );
    if (unscored.length > 0) {
      pair.queued = unscored;
      this.queueUpdate(pair);
      return;
    }
    this.plainQueue.push(this.start + pair.image, pair.window);
  }
}
