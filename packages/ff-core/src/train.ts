import * as tf from "@tensorflow/tfjs-core";
import createDebug from "debug";

import { AdamOptimizer } from "./adam.ts";
import {
  NUM_CLASSES,
  validateModelSettings,
  validateTrainingSettings,
  type Recipe,
} from "./config.ts";
import {
  drawWrongLabels,
  rawImagesToTensor,
  validateLabelledImages,
  type LabelledImages,
} from "./data.ts";
import type { TrainEventListener } from "./events.ts";
import { FFError } from "./errors.ts";
import {
  FFNetwork,
  goodnessOf,
  normFromSquaredLength,
  normalizeRows,
} from "./network.ts";
import { SeededRandom } from "./rng.ts";

const log = createDebug("ffads:ff-core:train");

/** Mini-batch steps between yields to the event loop, so signals and progress get through. */
const STEPS_PER_YIELD = 10;

export interface TrainOptions {
  recipe: Recipe;
  train: LabelledImages;
  onEvent?: TrainEventListener;
  /** When aborted, training stops after the current step and the result says `stopped`. */
  signal?: AbortSignal;
  /**
   * A network to train further in place of a new one; its architecture must equal the recipe's.
   * The result's `network` is this object.
   */
  network?: FFNetwork;
}

export interface TrainResult {
  network: FFNetwork;
  /** Mean loss per epoch, one array per layer. */
  lossHistory: number[][];
  wallTimeMs: number;
  stopped: boolean;
}

/**
 * Trains a Forward-Forward network by the recipe. Each layer learns from its own loss,
 * softplus(threshold - g) on positive data plus softplus(g - threshold) on negative data, with
 * gradients computed in closed form, so no gradient ever crosses a layer boundary.
 */
export async function trainFF(options: TrainOptions): Promise<TrainResult> {
  const { recipe } = options;
  validateModelSettings(recipe.architecture, recipe.settings);
  validateTrainingSettings(recipe.training);
  validateLabelledImages(options.train, "training set");
  if (options.train.pixels !== recipe.architecture.layerSizes[0]) {
    throw new FFError(
      "INVALID_INPUT",
      `images have ${options.train.pixels} pixels but the first layer size is ${recipe.architecture.layerSizes[0]}; ` +
        `set the first layer size to ${options.train.pixels}`,
    );
  }
  const trainer = new Trainer(options);
  try {
    return await trainer.run();
  } finally {
    trainer.dispose();
  }
}

/** Returns the fraction of images whose predicted label equals the true label. */
export function evaluateAccuracy(
  network: FFNetwork,
  data: LabelledImages,
  chunkImages = 1000,
): number {
  validateLabelledImages(data, "evaluation set");
  let correct = 0;
  for (let start = 0; start < data.count; start += chunkImages) {
    const count = Math.min(chunkImages, data.count - start);
    const predictions = tf.tidy(() =>
      network.predict(rawImagesToTensor(data, start, count)),
    );
    const predicted = predictions.dataSync();
    predictions.dispose();
    for (let i = 0; i < count; i++) {
      if (predicted[i] === data.labels[start + i]) correct += 1;
    }
  }
  return data.count === 0 ? Number.NaN : correct / data.count;
}

/** The rows of one optimiser step. */
interface Batch {
  /** Positions in the training set; null for the whole set in order. */
  indices: Int32Array | null;
  size: number;
}

/** Gradients and loss of one layer for one step. */
interface LayerStep {
  kernelGradient: tf.Tensor2D;
  biasGradient: tf.Tensor1D;
  loss: tf.Scalar;
}

/** The training loop; exported for tests of its gradients, use `trainFF` instead. */
export class Trainer {
  private readonly recipe: Recipe;
  readonly network: FFNetwork;
  private readonly random: SeededRandom;
  private readonly count: number;
  private readonly labels: Int32Array;
  private readonly labelTensor: tf.Tensor1D;
  /** Standardised pixels without the 10 label pixels, [count, inputSize - 10]. */
  private readonly pixels: tf.Tensor2D;
  /** Squared L2 length of each row of `pixels`, [count]. */
  private readonly pixelSquares: tf.Tensor1D;
  /** Transpose of `pixels`, kept for full-batch training, [inputSize - 10, count]. */
  private pixelsTransposed: tf.Tensor2D | null = null;
  fixedNegatives: Int32Array | null = null;
  /** Normalised inputs of the layer under sequential training with fixed negatives, [2 * count, width]. */
  private cachedLayerInput: {
    layer: number;
    normalized: tf.Tensor2D;
    transposed: tf.Tensor2D | null;
  } | null = null;
  private completedSteps = 0;
  private totalSteps = 0;

  constructor(private readonly options: TrainOptions) {
    this.recipe = options.recipe;
    const training = this.recipe.training;
    this.random = new SeededRandom(training.seed);
    const initSeed = this.random.nextInt(2 ** 31);
    this.network =
      options.network ??
      FFNetwork.create(
        this.recipe.architecture,
        this.recipe.settings,
        initSeed,
      );
    if (
      JSON.stringify(this.network.architecture) !==
      JSON.stringify(this.recipe.architecture)
    ) {
      throw new FFError(
        "INVALID_CONFIG",
        `the network to train has layers ${this.network.architecture.layerSizes.join("-")} ` +
          `but the recipe has ${this.recipe.architecture.layerSizes.join("-")}; use the same architecture`,
      );
    }
    this.count = Math.min(training.trainCount, options.train.count);
    this.labels = Int32Array.from(options.train.labels.subarray(0, this.count));
    this.labelTensor = tf.tensor1d(this.labels, "int32");
    if (training.negatives === "fixed")
      this.fixedNegatives = drawWrongLabels(this.labels, this.random);
    const prepared = tf.tidy(() => {
      const inputs = this.network.standardize(
        rawImagesToTensor(options.train, 0, this.count),
      );
      const pixels = tf.slice(inputs, [0, NUM_CLASSES], [-1, -1]);
      return { pixels, squares: tf.sum(tf.square(pixels), 1) };
    });
    this.pixels = prepared.pixels as tf.Tensor2D;
    this.pixelSquares = prepared.squares as tf.Tensor1D;
  }

  async run(): Promise<TrainResult> {
    const training = this.recipe.training;
    const layerCount = this.network.layers.length;
    const batchSize = this.effectiveBatchSize();
    const stepsPerEpoch = Math.ceil(this.count / batchSize);
    const rounds = training.schedule === "sequential" ? layerCount : 1;
    this.totalSteps = rounds * training.epochs * stepsPerEpoch;
    if (batchSize === this.count)
      this.pixelsTransposed = tf.transpose(this.pixels);

    const started = performance.now();
    this.emit({
      type: "start",
      layerCount,
      totalSteps: this.totalSteps,
      epochs: training.epochs,
      stepsPerEpoch,
      schedule: training.schedule,
    });
    const lossHistory: number[][] = this.network.layers.map(() => []);
    let stopped = false;
    if (training.schedule === "joint") {
      stopped = await this.trainLayers(
        this.network.layers.map((_, i) => i),
        null,
        lossHistory,
      );
    } else {
      for (let layer = 0; layer < layerCount && !stopped; layer++) {
        stopped = await this.trainLayers([layer], layer, lossHistory);
      }
    }
    const wallTimeMs = performance.now() - started;
    this.emit({ type: "end", wallTimeMs, stopped });
    return { network: this.network, lossHistory, wallTimeMs, stopped };
  }

  dispose(): void {
    this.labelTensor.dispose();
    this.pixels.dispose();
    this.pixelSquares.dispose();
    this.pixelsTransposed?.dispose();
    this.dropLayerInputCache();
  }

  /** Closed-form gradients of one joint step on the given rows, for tests. */
  gradientsFor(indices: Int32Array): LayerStep[] {
    const layers = this.network.layers.map((_, i) => i);
    return this.computeStep(
      { indices, size: indices.length },
      layers,
      layers.length - 1,
    );
  }

  /** Trains `layers` together for the recipe's epochs; returns true when stopped early. */
  private async trainLayers(
    layers: number[],
    eventLayer: number | null,
    lossHistory: number[][],
  ): Promise<boolean> {
    const training = this.recipe.training;
    const variables = layers.flatMap((i) => [
      this.network.layers[i]!.kernel,
      this.network.layers[i]!.bias,
    ]);
    const optimizer = new AdamOptimizer(variables, training.learningRate);
    const deepest = Math.max(...layers);
    if (eventLayer !== null && eventLayer > 0 && training.negatives === "fixed")
      this.cacheLayerInput(eventLayer);
    try {
      for (let epoch = 1; epoch <= training.epochs; epoch++) {
        optimizer.learningRate =
          training.learningRate * training.learningRateDecay ** (epoch - 1);
        const epochStarted = performance.now();
        const lossSums = layers.map(() => tf.scalar(0));
        let stepsInEpoch = 0;
        for (const batch of this.batches()) {
          if (this.options.signal?.aborted) {
            lossSums.forEach((sum) => sum.dispose());
            return true;
          }
          const steps = this.computeStep(batch, layers, deepest);
          optimizer.apply(
            steps.flatMap((step) => [step.kernelGradient, step.biasGradient]),
          );
          steps.forEach((step, i) => {
            const previous = lossSums[i]!;
            lossSums[i] = tf.add(previous, step.loss);
            previous.dispose();
            step.kernelGradient.dispose();
            step.biasGradient.dispose();
            step.loss.dispose();
          });
          stepsInEpoch += 1;
          this.completedSteps += 1;
          this.emit({
            type: "step",
            completedSteps: this.completedSteps,
            totalSteps: this.totalSteps,
            layer: eventLayer,
            epoch,
          });
          if (batch.indices === null || stepsInEpoch % STEPS_PER_YIELD === 0)
            await yieldToEventLoop();
        }
        const loss = this.network.layers.map(() => Number.NaN);
        layers.forEach((layer, i) => {
          loss[layer] = lossSums[i]!.dataSync()[0]! / stepsInEpoch;
          lossSums[i]!.dispose();
          lossHistory[layer]!.push(loss[layer]!);
        });
        const epochMs = performance.now() - epochStarted;
        log(
          "layer %o epoch %d loss %o in %d ms",
          eventLayer,
          epoch,
          loss,
          Math.round(epochMs),
        );
        this.emit({
          type: "epoch",
          layer: eventLayer,
          epoch,
          epochs: training.epochs,
          loss,
          epochMs,
          completedSteps: this.completedSteps,
          totalSteps: this.totalSteps,
        });
      }
      return false;
    } finally {
      optimizer.dispose();
      this.dropLayerInputCache();
    }
  }

  private effectiveBatchSize(): number {
    const requested = this.recipe.training.batchSize;
    return requested === 0 || requested >= this.count ? this.count : requested;
  }

  private *batches(): Generator<Batch> {
    const batchSize = this.effectiveBatchSize();
    if (batchSize === this.count) {
      yield { indices: null, size: this.count };
      return;
    }
    const order = this.random.permutation(this.count);
    for (let start = 0; start < this.count; start += batchSize) {
      const indices = order.subarray(
        start,
        Math.min(start + batchSize, this.count),
      );
      yield { indices, size: indices.length };
    }
  }

  /** Gathers the rows of a batch from a tensor whose first axis runs over the training set. */
  private rows<T extends tf.Tensor>(tensor: T, batch: Batch): T {
    if (batch.indices === null) return tf.clone(tensor);
    return tf.gather(tensor, tf.tensor1d(batch.indices, "int32")) as T;
  }

  /** Negative labels of a batch; hard negatives need the first layer's image product. */
  private negativeLabels(
    batch: Batch,
    imageProduct: tf.Tensor2D,
    norm: tf.Tensor1D,
    positives: tf.Tensor1D,
  ): tf.Tensor1D {
    const negatives = this.recipe.training.negatives;
    if (negatives === "hard")
      return this.hardNegatives(imageProduct, norm, positives);
    const wrong =
      negatives === "fixed"
        ? this.fixedNegatives!
        : drawWrongLabels(this.batchLabels(batch), this.random);
    if (negatives === "fixed" && batch.indices !== null) {
      return tf.tensor1d(
        Int32Array.from(batch.indices, (i) => wrong[i]!),
        "int32",
      );
    }
    return tf.tensor1d(wrong, "int32");
  }

  private batchLabels(batch: Batch): Int32Array {
    if (batch.indices === null) return this.labels;
    return Int32Array.from(batch.indices, (i) => this.labels[i]!);
  }

  /** The wrong label with the highest first-layer goodness for each row, [batch] int32. */
  private hardNegatives(
    imageProduct: tf.Tensor2D,
    norm: tf.Tensor1D,
    positives: tf.Tensor1D,
  ): tf.Tensor1D {
    return tf.tidy(() => {
      const layer = this.network.layers[0]!;
      const labelRows = tf.mul(
        tf.slice(layer.kernel, [0, 0], [NUM_CLASSES, -1]),
        this.recipe.settings.labelValue,
      );
      const activity = tf.relu(
        tf.add(
          tf.div(
            tf.add(tf.expandDims(imageProduct, 1), tf.expandDims(labelRows, 0)),
            tf.reshape(norm, [-1, 1, 1]),
          ),
          layer.bias,
        ),
      ); // [batch, 10, units]
      const goodness = tf.sum(tf.square(activity), 2); // order is all that matters, so no mean
      const isTrue = tf.oneHot(positives, NUM_CLASSES);
      const masked = tf.where(
        tf.cast(isTrue, "bool"),
        tf.fill(goodness.shape, -Infinity),
        goodness,
      );
      return tf.cast(tf.argMax(masked, 1), "int32") as tf.Tensor1D;
    });
  }

  /**
   * Forward pass of one step through layers 0..deepest, returning the gradients of `trained`
   * layers. Positive and negative rows share the first layer's image product, because they differ
   * only in the label pixels.
   */
  private computeStep(
    batch: Batch,
    trained: number[],
    deepest: number,
  ): LayerStep[] {
    return tf.tidy(() => {
      const results = new Map<number, LayerStep>();
      let input: tf.Tensor2D;
      let startLayer: number;
      const cache = this.cachedLayerInput;
      if (
        cache !== null &&
        cache.layer === trained[0] &&
        trained.length === 1
      ) {
        input = this.rows2(cache.normalized, batch);
        startLayer = cache.layer;
        const step = this.denseLayerStep(
          startLayer,
          input,
          batch.size,
          cache.transposed,
        );
        return [
          {
            kernelGradient: step.kernelGradient,
            biasGradient: step.biasGradient,
            loss: step.loss,
          },
        ];
      }
      const first = this.firstLayerStep(batch, trained.includes(0));
      if (first.step !== null) results.set(0, first.step);
      input = first.activity;
      startLayer = 1;
      for (let layer = startLayer; layer <= deepest; layer++) {
        if (trained.includes(layer)) {
          const normalized = normalizeRows(
            input,
            this.recipe.architecture.normalization,
          );
          const step = this.denseLayerStep(layer, normalized, batch.size, null);
          results.set(layer, step);
          input = step.activity!;
        } else {
          input = this.network.layerActivity(layer, input);
        }
      }
      return trained.map((layer) => {
        const step = results.get(layer)!;
        return {
          kernelGradient: step.kernelGradient,
          biasGradient: step.biasGradient,
          loss: step.loss,
        };
      });
    });
  }

  /** Rows of a [2 * count, width] positive-then-negative cache for a batch, in the same order. */
  private rows2(cache: tf.Tensor2D, batch: Batch): tf.Tensor2D {
    if (batch.indices === null) return tf.clone(cache);
    const both = new Int32Array(batch.size * 2);
    for (let i = 0; i < batch.size; i++) {
      both[i] = batch.indices[i]!;
      both[batch.size + i] = this.count + batch.indices[i]!;
    }
    return tf.gather(cache, tf.tensor1d(both, "int32"));
  }

  /**
   * First layer for positive and negative rows. Returns their activity stacked positive first,
   * [2 * batch, units], and the gradients when the layer is trained.
   */
  private firstLayerStep(
    batch: Batch,
    train: boolean,
  ): { activity: tf.Tensor2D; step: LayerStep | null } {
    const settings = this.recipe.settings;
    const architecture = this.recipe.architecture;
    const layer = this.network.layers[0]!;
    const pixels = this.rows(this.pixels, batch); // [batch, inputSize - 10]
    const squares = this.rows(this.pixelSquares, batch);
    const kernelPixels = tf.slice(layer.kernel, [NUM_CLASSES, 0], [-1, -1]);
    const kernelLabels = tf.slice(layer.kernel, [0, 0], [NUM_CLASSES, -1]);
    const imageProduct = tf.matMul(pixels, kernelPixels) as tf.Tensor2D; // [batch, units]
    const norm = normFromSquaredLength(
      tf.add(squares, settings.labelValue ** 2),
      architecture.layerSizes[0]!,
      architecture.normalization,
    );
    const normColumn = tf.expandDims(norm, 1); // [batch, 1]
    const positives = this.rows(this.labelTensor, batch);
    const negatives = this.negativeLabels(batch, imageProduct, norm, positives);
    const activityOf = (labels: tf.Tensor1D): tf.Tensor2D =>
      tf.relu(
        tf.add(
          tf.div(
            tf.add(
              imageProduct,
              tf.mul(tf.gather(kernelLabels, labels), settings.labelValue),
            ),
            normColumn,
          ),
          layer.bias,
        ),
      ) as tf.Tensor2D;
    const positiveActivity = activityOf(positives);
    const negativeActivity = activityOf(negatives);
    const activity = tf.concat(
      [positiveActivity, negativeActivity],
      0,
    ) as tf.Tensor2D;
    if (!train) return { activity, step: null };

    const { loss, preActivationGradient } = this.localLoss(
      activity,
      batch.size,
    );
    const positiveGradient = tf.slice(
      preActivationGradient,
      [0, 0],
      [batch.size, -1],
    );
    const negativeGradient = tf.slice(
      preActivationGradient,
      [batch.size, 0],
      [batch.size, -1],
    );
    const scaledPositive = tf.div(positiveGradient, normColumn);
    const scaledNegative = tf.div(negativeGradient, normColumn);
    const pixelsTransposed =
      batch.indices === null && this.pixelsTransposed !== null
        ? this.pixelsTransposed
        : tf.transpose(pixels);
    // NOTE: an explicit transpose and a plain matMul is about 7x faster on the wasm backend than
    // matMul with transposeA set (measured with tfjs 4.22 in Node 20).
    const pixelGradient = tf.matMul(
      pixelsTransposed,
      tf.add(scaledPositive, scaledNegative),
    );
    // Sums the rows of each label: oneHot^T @ rows, since the wasm backend has no UnsortedSegmentSum.
    const labelGradient = tf.mul(
      tf.add(
        tf.matMul(
          tf.transpose(tf.oneHot(positives, NUM_CLASSES)),
          scaledPositive,
        ),
        tf.matMul(
          tf.transpose(tf.oneHot(negatives, NUM_CLASSES)),
          scaledNegative,
        ),
      ),
      settings.labelValue,
    );
    return {
      activity,
      step: {
        kernelGradient: tf.concat(
          [labelGradient, pixelGradient],
          0,
        ) as tf.Tensor2D,
        biasGradient: tf.sum(preActivationGradient, 0) as tf.Tensor1D,
        loss,
      },
    };
  }

  /** One layer above the first on normalised positive-then-negative rows, with its gradients. */
  private denseLayerStep(
    index: number,
    normalized: tf.Tensor2D,
    batchSize: number,
    transposed: tf.Tensor2D | null,
  ): LayerStep & { activity: tf.Tensor2D } {
    const layer = this.network.layers[index]!;
    const activity = tf.relu(
      tf.add(tf.matMul(normalized, layer.kernel), layer.bias),
    ) as tf.Tensor2D;
    const { loss, preActivationGradient } = this.localLoss(activity, batchSize);
    const inputTransposed = transposed ?? tf.transpose(normalized);
    return {
      activity,
      kernelGradient: tf.matMul(
        inputTransposed,
        preActivationGradient,
      ) as tf.Tensor2D,
      biasGradient: tf.sum(preActivationGradient, 0) as tf.Tensor1D,
      loss,
    };
  }

  /**
   * The FF loss of one layer and its gradient with respect to the pre-activation, in closed form.
   * With g = c * sum(y^2) (c = 1/units for mean goodness, 1 for sum) and y = relu(z):
   * dg/dz = 2c * y, d softplus(t - g)/dg = -sigmoid(t - g), d softplus(g - t)/dg = sigmoid(g - t).
   * The loss is the mean over positive rows plus the mean over negative rows.
   */
  private localLoss(
    activity: tf.Tensor2D,
    batchSize: number,
  ): { loss: tf.Scalar; preActivationGradient: tf.Tensor2D } {
    const { threshold } = this.recipe.settings;
    const kind = this.recipe.architecture.goodness;
    const units = activity.shape[1];
    const goodness = goodnessOf(activity, kind);
    const positive = tf.slice(goodness, [0], [batchSize]);
    const negative = tf.slice(goodness, [batchSize], [batchSize]);
    const positiveMargin = tf.sub(threshold, positive);
    const negativeMargin = tf.sub(negative, threshold);
    const loss = tf.add(
      tf.mean(tf.softplus(positiveMargin)),
      tf.mean(tf.softplus(negativeMargin)),
    ) as tf.Scalar;
    const scale = (2 * (kind === "mean" ? 1 / units : 1)) / batchSize;
    const coefficients = tf.concat([
      tf.mul(tf.sigmoid(positiveMargin), -scale),
      tf.mul(tf.sigmoid(negativeMargin), scale),
    ]); // [2 * batch]
    return {
      loss,
      preActivationGradient: tf.mul(activity, tf.expandDims(coefficients, 1)),
    };
  }

  /**
   * For sequential training with fixed negatives, the input of layer `index` never changes, so
   * the frozen layers below run once over the whole set and their normalised output is kept.
   */
  private cacheLayerInput(index: number): void {
    this.dropLayerInputCache();
    const chunk = 5000;
    const positiveParts: tf.Tensor2D[] = [];
    const negativeParts: tf.Tensor2D[] = [];
    for (let start = 0; start < this.count; start += chunk) {
      const size = Math.min(chunk, this.count - start);
      const indices = new Int32Array(size).map((_, i) => start + i);
      const activity = tf.tidy(() => {
        let input = this.firstLayerStep({ indices, size }, false).activity;
        for (let layer = 1; layer < index; layer++)
          input = this.network.layerActivity(layer, input);
        return normalizeRows(input, this.recipe.architecture.normalization);
      });
      positiveParts.push(tf.slice(activity, [0, 0], [size, -1]));
      negativeParts.push(tf.slice(activity, [size, 0], [size, -1]));
      activity.dispose();
    }
    const normalized = tf.concat(
      [...positiveParts, ...negativeParts],
      0,
    ) as tf.Tensor2D;
    [...positiveParts, ...negativeParts].forEach((part) => part.dispose());
    const fullBatch = this.effectiveBatchSize() === this.count;
    this.cachedLayerInput = {
      layer: index,
      normalized,
      transposed: fullBatch ? (tf.transpose(normalized) as tf.Tensor2D) : null,
    };
  }

  private dropLayerInputCache(): void {
    if (this.cachedLayerInput === null) return;
    this.cachedLayerInput.normalized.dispose();
    this.cachedLayerInput.transposed?.dispose();
    this.cachedLayerInput = null;
  }

  private emit(event: Parameters<TrainEventListener>[0]): void {
    this.options.onEvent?.(event);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
