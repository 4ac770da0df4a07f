import * as tf from "@tensorflow/tfjs-core";
import createDebug from "debug";

import { AdamOptimizer } from "./adam.ts";
import {
  validateModelSettings,
  validateTrainingSettings,
  type Recipe,
} from "./config.ts";
import {
  rawImagesToTensor,
  validateLabelledImages,
  type LabelledImages,
} from "./data.ts";
import type { TrainEventListener } from "./events.ts";
import { FFError } from "./errors.ts";
import {
  LayerSteps,
  stepGradients,
  TrainingImages,
  type LayerStep,
} from "./layer-steps.ts";
import { FFNetwork, normalizeRows } from "./network.ts";
import { pipelineUnavailableReason, trainPipelined } from "./pipeline.ts";
import { startRun, type Batch, type BatchSampler } from "./sampling.ts";

const log = createDebug("ffads:ff-core:train");

/** Mini-batch steps between yields to the event loop, so signals and progress get through. */
const STEPS_PER_YIELD = 10;

export interface TrainOptions {
  recipe: Recipe;
  train: LabelledImages;
  onEvent?: TrainEventListener;
  /** When aborted, training stops after the current step and the result has `stopped: true`. */
  signal?: AbortSignal;
  /**
   * A network to train further in place of a new one; its architecture must equal the recipe's.
   * The result's `network` is this object.
   */
  network?: FFNetwork;
  /**
   * Threads to train on (default 1). With 2 or more, the joint schedule of a network of 2 or more
   * layers runs as a pipeline of worker threads, one per group of consecutive layers. The results
   * are bit-for-bit those of one thread. Other schedules and networks train on one thread, and so
   * do backends other than `cpu` and `wasm`, the ones a worker can load.
   */
  threads?: number;
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
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new FFError(
      "INVALID_CONFIG",
      `threads ${threads} must be a positive integer; use 1 to train on the calling thread`,
    );
  }
  const singleThreadReason = pipelineUnavailableReason(options, threads);
  if (singleThreadReason === null) return trainPipelined(options, threads);
  if (threads > 1) log("training on one thread: %s", singleThreadReason);

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

/** The training loop; exported for tests of its gradients, use `trainFF` instead. */
export class Trainer {
  private readonly recipe: Recipe;
  readonly network: FFNetwork;
  private readonly sampler: BatchSampler;
  private readonly count: number;
  private readonly images: TrainingImages;
  private readonly steps: LayerSteps;
  /**
   * Normalised inputs of the layer under sequential training, positive rows then negative rows,
   * [2 * count, width], with a host copy for mini-batches.
   */
  private cachedLayerInput: {
    layer: number;
    normalized: tf.Tensor2D;
    values: Float32Array;
    transposed: tf.Tensor2D | null;
  } | null = null;
  private completedSteps = 0;
  private totalSteps = 0;

  constructor(private readonly options: TrainOptions) {
    this.recipe = options.recipe;
    const { network, sampler } = startRun(options);
    this.network = network;
    this.sampler = sampler;
    this.count = sampler.count;
    this.images = new TrainingImages(
      network,
      options.train,
      sampler.labels,
      sampler.batchSize === sampler.count,
    );
    this.steps = new LayerSteps(this.recipe, network, this.images);
  }

  /** One wrong label per image for `fixed` negatives; null otherwise. */
  get fixedNegatives(): Int32Array | null {
    return this.sampler.fixedNegatives;
  }

  async run(): Promise<TrainResult> {
    const training = this.recipe.training;
    const layerCount = this.network.layers.length;
    const stepsPerEpoch = this.sampler.stepsPerEpoch;
    const rounds = training.schedule === "sequential" ? layerCount : 1;
    this.totalSteps = rounds * training.epochs * stepsPerEpoch;

    const started = performance.now();
    this.emit({
      type: "start",
      layerCount,
      totalSteps: this.totalSteps,
      epochs: training.epochs,
      stepsPerEpoch,
      schedule: training.schedule,
      threads: 1,
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
    this.images.dispose();
    this.dropLayerInputCache();
  }

  /** Computes the closed-form gradients of one joint step on the given rows, for tests. */
  gradientsFor(indices: Int32Array): {
    kernelGradient: tf.Tensor2D;
    biasGradient: tf.Tensor1D;
    loss: tf.Scalar;
  }[] {
    const layers = this.network.layers.map((_, i) => i);
    // Splits the first layer's kernel as training does, so that tests check that path.
    this.steps.trainableVariables(layers);
    let steps: LayerStep[];
    try {
      steps = this.computeStep(
        this.sampler.batchOf(indices),
        layers,
        layers.length - 1,
      );
    } finally {
      this.steps.releaseFirstKernel();
    }
    return steps.map((step) => {
      const kernelGradient = tf.concat(step.kernelGradients, 0);
      tf.dispose(step.kernelGradients);
      return {
        kernelGradient,
        biasGradient: step.biasGradient,
        loss: step.loss,
      };
    });
  }

  /** Trains `layers` together for the recipe's epochs; returns true when stopped early. */
  private async trainLayers(
    layers: number[],
    eventLayer: number | null,
    lossHistory: number[][],
  ): Promise<boolean> {
    const training = this.recipe.training;
    const deepest = Math.max(...layers);
    // With fixed negatives, or hard ones chosen by the frozen first layer, the input of an upper
    // layer under sequential training never changes.
    if (
      eventLayer !== null &&
      eventLayer > 0 &&
      training.negatives !== "resample"
    )
      this.cacheLayerInput(eventLayer);
    let optimizer: AdamOptimizer | null = null;
    try {
      optimizer = new AdamOptimizer(
        this.steps.trainableVariables(layers),
        training.learningRate,
      );
      for (let epoch = 1; epoch <= training.epochs; epoch++) {
        optimizer.learningRate =
          training.learningRate * training.learningRateDecay ** (epoch - 1);
        const epochStarted = performance.now();
        const lossSums = layers.map(() => tf.scalar(0));
        let stepsInEpoch = 0;
        for (const batch of this.sampler.epoch()) {
          if (this.options.signal?.aborted) {
            lossSums.forEach((sum) => sum.dispose());
            return true;
          }
          const steps = this.computeStep(batch, layers, deepest);
          const gradients = steps.flatMap(stepGradients);
          optimizer.apply(gradients);
          tf.dispose(gradients);
          steps.forEach((step, i) => {
            const previous = lossSums[i]!;
            lossSums[i] = tf.add(previous, step.loss);
            previous.dispose();
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
        // The network's first-layer kernel is current at every epoch event.
        this.steps.syncFirstKernel();
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
      optimizer?.dispose();
      this.steps.releaseFirstKernel();
      this.dropLayerInputCache();
    }
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
        const step = this.steps.denseLayerStep(
          startLayer,
          input,
          batch.size,
          cache.transposed,
        );
        return [
          {
            kernelGradients: step.kernelGradients,
            biasGradient: step.biasGradient,
            loss: step.loss,
          },
        ];
      }
      const first = this.steps.firstLayerStep(batch, trained.includes(0));
      if (first.step !== null) results.set(0, first.step);
      input = first.activity;
      startLayer = 1;
      for (let layer = startLayer; layer <= deepest; layer++) {
        if (trained.includes(layer)) {
          const normalized = normalizeRows(
            input,
            this.recipe.architecture.normalization,
          );
          const step = this.steps.denseLayerStep(
            layer,
            normalized,
            batch.size,
            null,
          );
          results.set(layer, step);
          input = step.activity!;
        } else {
          input = this.network.layerActivity(layer, input);
        }
      }
      return trained.map((layer) => {
        const step = results.get(layer)!;
        return {
          kernelGradients: step.kernelGradients,
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
    // Copied on the host: on the wasm backend tf.gather of a few hundred rows takes milliseconds.
    const width = cache.shape[1];
    const values = this.cachedLayerInput!.values;
    const rows = new Float32Array(both.length * width);
    both.forEach((row, i) =>
      rows.set(values.subarray(row * width, (row + 1) * width), i * width),
    );
    return tf.tensor2d(rows, [both.length, width]);
  }

  /**
   * For sequential training without resampled negatives, the input of layer `index` never changes, so
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
        let input = this.steps.firstLayerStep(
          this.sampler.batchOf(indices),
          false,
        ).activity;
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
    const fullBatch = this.sampler.batchSize === this.count;
    this.cachedLayerInput = {
      layer: index,
      normalized,
      values: normalized.dataSync() as Float32Array,
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
