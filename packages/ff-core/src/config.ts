import { FFError } from "./errors.ts";

/** Number of classes, and so of label pixels at the start of the flattened input. */
export const NUM_CLASSES = 10;

/** MNIST pixel statistics on [0, 1] inputs, the values torchvision's examples use. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export type Normalization = "l2" | "rms";
export type GoodnessKind = "mean" | "sum";
export type Schedule = "sequential" | "joint";
/**
 * The labelling of negative data: `fixed` draws one wrong label per image before training,
 * `resample` draws new wrong labels every epoch, `hard` picks the wrong label with the highest
 * first-layer goodness under the current weights, for every mini-batch.
 */
export type NegativeLabels = "fixed" | "resample" | "hard";

/** The settings that define how a network computes, saved with the model. */
export interface FFArchitecture {
  /** Input size first, e.g. [784, 500, 500]. */
  layerSizes: number[];
  normalization: Normalization;
  goodness: GoodnessKind;
}

/** Settings of the FF algorithm that prediction needs as well as training. */
export interface FFSettings {
  threshold: number;
  /** Value written at the true label's pixel by the label embedding. */
  labelValue: number;
  /** Per-pixel standardisation applied to [0, 1] inputs before the label embedding, or null. */
  inputStandardization: { mean: number; std: number } | null;
  /** When true, prediction sums goodness over all layers but the first. */
  predictionSkipsFirstLayer: boolean;
}

/** Settings that only matter while training. */
export interface TrainingSettings {
  schedule: Schedule;
  negatives: NegativeLabels;
  /** Epochs per layer for the sequential schedule, epochs over all layers for the joint one. */
  epochs: number;
  /** Images per mini-batch; 0 or a value of at least the training set size means full batch. */
  batchSize: number;
  learningRate: number;
  /** Multiplies the learning rate by this factor after every epoch (1 keeps it constant). */
  learningRateDecay: number;
  seed: number;
  /** Number of training images taken from the start of the train split; the rest are unused. */
  trainCount: number;
}

/** A named, documented recipe: everything needed to train a model from scratch. */
export interface Recipe {
  name: string;
  description: string;
  architecture: FFArchitecture;
  settings: FFSettings;
  training: TrainingSettings;
}

const STANDARDIZED_MAX = (1 - MNIST_MEAN) / MNIST_STD;

/**
 * The recipe of "Novel Saliency Analysis for the Forward-Forward Algorithm" (arXiv 2409.15365):
 * 784-500-500, full batch of 50,000 images, Adam 0.03, threshold 2.0, layers trained one after
 * another for 5,000 epochs each. Inputs are standardised and the label pixel is set to the
 * largest standardised value, with one fixed random wrong label per image as negative data.
 */
export const PAPER_RECIPE: Recipe = {
  name: "paper",
  description:
    "784-500-500, full batch of 50,000, Adam 0.03, threshold 2.0, sequential, 5,000 epochs per layer (a GPU job)",
  architecture: {
    layerSizes: [784, 500, 500],
    normalization: "l2",
    goodness: "mean",
  },
  settings: {
    threshold: 2.0,
    labelValue: STANDARDIZED_MAX,
    inputStandardization: { mean: MNIST_MEAN, std: MNIST_STD },
    predictionSkipsFirstLayer: false,
  },
  training: {
    schedule: "sequential",
    negatives: "fixed",
    epochs: 5000,
    batchSize: 50000,
    learningRate: 0.03,
    learningRateDecay: 1,
    seed: 1,
    trainCount: 50000,
  },
};

/**
 * The default recipe: the paper's network, trained layer by layer on mini-batches of 100 with hard
 * negatives and a decaying learning rate. Sized for at least 97% MNIST test accuracy within 10
 * minutes on 2 CPU cores with the wasm backend. Three measured runs gave 97.10% to 97.40% after
 * about 7 minutes of training; docs/benchmarks.md lists them.
 */
export const DEFAULT_RECIPE: Recipe = {
  name: "default",
  description:
    "784-500-500, sequential, mini-batches of 100, Adam 0.05 decaying by 0.91 per epoch, hard negatives, 26 epochs per layer (CPU friendly)",
  architecture: structuredClone(PAPER_RECIPE.architecture),
  settings: structuredClone(PAPER_RECIPE.settings),
  training: {
    schedule: "sequential",
    negatives: "hard",
    epochs: 26,
    batchSize: 100,
    learningRate: 0.05,
    learningRateDecay: 0.91,
    seed: 1,
    trainCount: 60000,
  },
};

/** A tiny recipe for smoke tests and demos: one small layer, a few seconds on a CPU. */
export const TINY_RECIPE: Recipe = {
  name: "tiny",
  description:
    "784-100, mini-batches of 50, Adam 0.03, hard negatives, 3 epochs on 10,000 images (seconds, for smoke tests)",
  architecture: {
    layerSizes: [784, 100],
    normalization: "l2",
    goodness: "mean",
  },
  settings: { ...DEFAULT_RECIPE.settings },
  training: {
    ...DEFAULT_RECIPE.training,
    schedule: "joint",
    epochs: 3,
    batchSize: 50,
    learningRate: 0.03,
    learningRateDecay: 1,
    trainCount: 10000,
  },
};

export const PRESETS: Readonly<Record<string, Recipe>> = {
  default: DEFAULT_RECIPE,
  paper: PAPER_RECIPE,
  tiny: TINY_RECIPE,
};

/** Returns the preset of that name, or throws an error listing the presets. */
export function presetRecipe(name: string): Recipe {
  const recipe = PRESETS[name];
  if (recipe === undefined) {
    throw new FFError(
      "INVALID_CONFIG",
      `unknown preset "${name}"; use one of: ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  return structuredClone(recipe);
}

/** Throws an FFError naming the first invalid setting of the architecture or FF settings. */
export function validateModelSettings(
  architecture: FFArchitecture,
  settings: FFSettings,
): void {
  const sizes = architecture.layerSizes;
  if (sizes.length < 2) {
    throw new FFError(
      "INVALID_CONFIG",
      `layer sizes [${sizes.join(", ")}] need an input size and at least one layer, e.g. [784, 500, 500]`,
    );
  }
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1) {
      throw new FFError(
        "INVALID_CONFIG",
        `layer size ${size} is invalid; every layer size must be a positive integer`,
      );
    }
  }
  if (sizes[0]! <= NUM_CLASSES) {
    throw new FFError(
      "INVALID_CONFIG",
      `input size ${sizes[0]} must exceed ${NUM_CLASSES}, the number of label pixels`,
    );
  }
  if (
    architecture.normalization !== "l2" &&
    architecture.normalization !== "rms"
  ) {
    throw new FFError(
      "INVALID_CONFIG",
      `normalization "${architecture.normalization}" is invalid; use "l2" or "rms"`,
    );
  }
  if (architecture.goodness !== "mean" && architecture.goodness !== "sum") {
    throw new FFError(
      "INVALID_CONFIG",
      `goodness "${architecture.goodness}" is invalid; use "mean" or "sum"`,
    );
  }
  if (!Number.isFinite(settings.threshold)) {
    throw new FFError(
      "INVALID_CONFIG",
      `threshold ${settings.threshold} must be a finite number`,
    );
  }
  if (!Number.isFinite(settings.labelValue)) {
    throw new FFError(
      "INVALID_CONFIG",
      `label value ${settings.labelValue} must be a finite number`,
    );
  }
  const standardization = settings.inputStandardization;
  if (standardization !== null && !(standardization.std > 0)) {
    throw new FFError(
      "INVALID_CONFIG",
      `input standard deviation ${standardization.std} must be positive`,
    );
  }
  if (settings.predictionSkipsFirstLayer && sizes.length < 3) {
    throw new FFError(
      "INVALID_CONFIG",
      "prediction can skip the first layer only in a network of at least two layers",
    );
  }
}

/** Throws an FFError naming the first invalid training setting. */
export function validateTrainingSettings(training: TrainingSettings): void {
  if (training.schedule !== "sequential" && training.schedule !== "joint") {
    throw new FFError(
      "INVALID_CONFIG",
      `schedule "${training.schedule}" is invalid; use "sequential" or "joint"`,
    );
  }
  if (!["fixed", "resample", "hard"].includes(training.negatives)) {
    throw new FFError(
      "INVALID_CONFIG",
      `negatives "${training.negatives}" is invalid; use "fixed", "resample" or "hard"`,
    );
  }
  if (!Number.isInteger(training.epochs) || training.epochs < 1) {
    throw new FFError(
      "INVALID_CONFIG",
      `epochs ${training.epochs} must be a positive integer`,
    );
  }
  if (!Number.isInteger(training.batchSize) || training.batchSize < 0) {
    throw new FFError(
      "INVALID_CONFIG",
      `batch size ${training.batchSize} must be a positive integer, or 0 for full batch`,
    );
  }
  if (!(training.learningRate > 0) || !Number.isFinite(training.learningRate)) {
    throw new FFError(
      "INVALID_CONFIG",
      `learning rate ${training.learningRate} must be a positive number`,
    );
  }
  if (!(training.learningRateDecay > 0 && training.learningRateDecay <= 1)) {
    throw new FFError(
      "INVALID_CONFIG",
      `learning rate decay ${training.learningRateDecay} must be in (0, 1]`,
    );
  }
  if (!Number.isInteger(training.seed) || training.seed < 0) {
    throw new FFError(
      "INVALID_CONFIG",
      `seed ${training.seed} must be a non-negative integer`,
    );
  }
  if (!Number.isInteger(training.trainCount) || training.trainCount < 1) {
    throw new FFError(
      "INVALID_CONFIG",
      `train count ${training.trainCount} must be a positive integer`,
    );
  }
}
