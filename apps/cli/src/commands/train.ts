import os from "node:os";
import path from "node:path";

import type { DatasetName } from "@ffads/datasets";
import {
  evaluateAccuracy,
  presetRecipe,
  saveModel,
  trainFF,
  validateModelSettings,
  validateTrainingSettings,
  type Recipe,
  type TrainEvent,
} from "@ffads/ff-core";

import { selectBackend, type BackendChoice } from "../backend.ts";
import {
  checkDataDir,
  checkOutputFolder,
  describeBackend,
  firstImages,
  loadSplit,
  parseSizeList,
} from "../common.ts";
import { InterruptedError, UsageError } from "../errors.ts";
import type { Streams } from "../main.ts";
import { formatDuration, ProgressBar } from "../progress.ts";

export interface TrainFlags {
  dataset: DatasetName;
  preset: string;
  epochs?: number;
  batchSize?: number;
  layers?: string;
  learningRate?: number;
  learningRateDecay?: number;
  threshold?: number;
  seed?: number;
  schedule?: "sequential" | "joint";
  negatives?: "fixed" | "resample" | "hard";
  normalization?: "l2" | "rms";
  goodness?: "mean" | "sum";
  trainCount?: number;
  threads?: number;
  backend: BackendChoice;
  out?: string;
  overwrite: boolean;
  dataDir?: string;
  download: boolean;
  verifyChecksums: boolean;
  json: boolean;
  verbose: boolean;
}

/** The summary printed at the end, and with --json the whole stdout. */
export interface TrainSummary {
  model: string;
  dataset: string;
  preset: string;
  backend: string;
  layerSizes: number[];
  epochs: number;
  trainCount: number;
  trainAccuracy: number;
  testAccuracy: number;
  trainMs: number;
  wallTimeMs: number;
  finalLoss: number[];
}

/** Builds the recipe from the preset and the flags that override it. */
export function recipeFromFlags(flags: TrainFlags, inputSize: number): Recipe {
  const recipe = presetRecipe(flags.preset);
  const training = recipe.training;
  if (flags.layers !== undefined) {
    recipe.architecture.layerSizes = [
      inputSize,
      ...parseSizeList(flags.layers, "--layers"),
    ];
  }
  if (flags.epochs !== undefined) training.epochs = flags.epochs;
  if (flags.batchSize !== undefined) training.batchSize = flags.batchSize;
  if (flags.learningRate !== undefined)
    training.learningRate = flags.learningRate;
  if (flags.learningRateDecay !== undefined)
    training.learningRateDecay = flags.learningRateDecay;
  if (flags.seed !== undefined) training.seed = flags.seed;
  if (flags.schedule !== undefined) training.schedule = flags.schedule;
  if (flags.negatives !== undefined) training.negatives = flags.negatives;
  if (flags.trainCount !== undefined) training.trainCount = flags.trainCount;
  if (flags.threshold !== undefined)
    recipe.settings.threshold = flags.threshold;
  if (flags.normalization !== undefined)
    recipe.architecture.normalization = flags.normalization;
  if (flags.goodness !== undefined)
    recipe.architecture.goodness = flags.goodness;
  return recipe;
}

/** `ff train`: trains an FF network, evaluates it and writes the model folder. */
export async function runTrain(
  flags: TrainFlags,
  signal: AbortSignal,
  streams: Streams,
): Promise<TrainSummary> {
  const started = performance.now();
  const out = path.resolve(
    flags.out ?? path.join("runs", `${flags.dataset}-${flags.preset}`, "model"),
  );
  checkOutputFolder(out, {
    marker: "model.json",
    resultName: "model",
    overwrite: flags.overwrite,
    replacesFolder: false,
  });
  checkDataDir(flags.dataDir);
  // Every dataset here has 28 x 28 images, so the settings can be checked before anything loads.
  const early = recipeFromFlags(flags, 784);
  validateModelSettings(early.architecture, early.settings);
  validateTrainingSettings(early.training);

  const progress = new ProgressBar(
    "train",
    streams.stderr,
    streams.interactive ?? false,
  );
  const backend = await selectBackend(flags.backend);
  progress.log(describeBackend(backend));

  const data = {
    dataDir: flags.dataDir,
    download: flags.download,
    verifyChecksums: flags.verifyChecksums,
  };
  const trainSet = await loadSplit(flags.dataset, "train", data, (line) =>
    progress.log(line),
  );
  const testSet = await loadSplit(flags.dataset, "test", data, (line) =>
    progress.log(line),
  );
  const recipe = recipeFromFlags(flags, trainSet.rows * trainSet.cols);
  if (recipe.training.trainCount > trainSet.count) {
    throw new UsageError(
      `--train-count ${recipe.training.trainCount} exceeds the ${trainSet.count} training images of ${flags.dataset}`,
    );
  }
  const layers = recipe.architecture.layerSizes.join("-");
  progress.log(
    `training ${layers} on ${recipe.training.trainCount} ${flags.dataset} images: ${recipe.training.schedule} schedule, ` +
      `${recipe.training.epochs} epochs, batch ${recipe.training.batchSize || "full"}, ` +
      `learning rate ${recipe.training.learningRate}, ${recipe.training.negatives} negatives`,
  );

  const result = await trainFF({
    recipe,
    train: firstImages(trainSet, recipe.training.trainCount),
    signal,
    threads: flags.threads ?? defaultThreads(),
    onEvent: (event) =>
      renderTrainEvent(
        event,
        progress,
        recipe.architecture.layerSizes.length - 1,
      ),
  });
  progress.finish();
  if (result.stopped) {
    result.network.dispose();
    throw new InterruptedError(
      `training interrupted; nothing was written to ${out}`,
    );
  }

  if (signal.aborted) {
    result.network.dispose();
    throw new InterruptedError(
      `training interrupted; nothing was written to ${out}`,
    );
  }
  const diverged = result.network
    .toArrays()
    .findIndex(
      (layer) =>
        !layer.kernel.every(Number.isFinite) ||
        !layer.bias.every(Number.isFinite),
    );
  if (diverged !== -1) {
    result.network.dispose();
    throw new Error(
      `training diverged: layer ${diverged + 1} has NaN or infinite weights; lower ` +
        `--learning-rate (${recipe.training.learningRate}) or change --threshold; nothing was written to ${out}`,
    );
  }
  progress.log("evaluating");
  const trainAccuracy = evaluateAccuracy(
    result.network,
    firstImages(trainSet, recipe.training.trainCount),
  );
  const testAccuracy = evaluateAccuracy(
    result.network,
    firstImages(testSet, undefined),
  );
  if (signal.aborted) {
    result.network.dispose();
    throw new InterruptedError(
      `interrupted after training; nothing was written to ${out}`,
    );
  }
  await saveModel(out, result.network, {
    kind: "ff",
    recipe: {
      ...recipe.settings,
      name: recipe.name,
      negatives: recipe.training.negatives,
      schedule: recipe.training.schedule,
    },
    training: {
      epochs: recipe.training.epochs,
      batchSize: recipe.training.batchSize,
      learningRate: recipe.training.learningRate,
      learningRateDecay: recipe.training.learningRateDecay,
      seed: recipe.training.seed,
      backend: backend.name,
      trainCount: recipe.training.trainCount,
      wallTimeMs: result.wallTimeMs,
      stopped: false,
    },
    dataset: {
      name: flags.dataset,
      imageShape: [trainSet.rows, trainSet.cols],
      classNames: [...trainSet.classNames],
    },
    metrics: { trainAccuracy, testAccuracy },
    lossHistory: { unit: "epoch", layers: result.lossHistory },
  });
  result.network.dispose();

  return {
    model: out,
    dataset: flags.dataset,
    preset: recipe.name,
    backend: backend.name,
    layerSizes: recipe.architecture.layerSizes,
    epochs: recipe.training.epochs,
    trainCount: recipe.training.trainCount,
    trainAccuracy,
    testAccuracy,
    trainMs: result.wallTimeMs,
    wallTimeMs: performance.now() - started,
    finalLoss: result.lossHistory.map((layer) => layer.at(-1) ?? Number.NaN),
  };
}

export function formatTrainSummary(summary: TrainSummary): string {
  return [
    `model:          ${summary.model}`,
    `network:        ${summary.layerSizes.join("-")} (${summary.preset} preset, ${summary.backend} backend)`,
    `train accuracy: ${(summary.trainAccuracy * 100).toFixed(2)}% on ${summary.trainCount} images`,
    `test accuracy:  ${(summary.testAccuracy * 100).toFixed(2)}%`,
    `wall time:      ${formatDuration(summary.wallTimeMs)} (training ${formatDuration(summary.trainMs)}, ${os.cpus().length} cores)`,
  ].join("\n");
}

/**
 * Threads when --threads is not given: 2 where at least 2 cores are available, which makes the
 * default preset's 2 layers a pipeline of 2 stages. Recipes that cannot be pipelined use 1.
 */
function defaultThreads(): number {
  return Math.min(2, os.availableParallelism());
}

function renderTrainEvent(
  event: TrainEvent,
  progress: ProgressBar,
  layerCount: number,
): void {
  if (event.type === "start" && event.threads > 1) {
    progress.log(`pipelining the layers over ${event.threads} threads`);
  } else if (event.type === "step") {
    const where =
      event.layer === null
        ? `epoch ${event.epoch}`
        : `layer ${event.layer + 1}/${layerCount} epoch ${event.epoch}`;
    progress.update(event.completedSteps, event.totalSteps, where);
  } else if (event.type === "epoch") {
    // Layers are numbered from 1, as in the viewer.
    const where =
      event.layer === null ? "" : `layer ${event.layer + 1}/${layerCount} `;
    const loss = event.loss
      .map((value, i) =>
        Number.isNaN(value) ? null : `L${i + 1} ${value.toFixed(4)}`,
      )
      .filter((part) => part !== null)
      .join(" ");
    // A terminal keeps at most about 100 epoch lines per layer; logs get every epoch.
    const shown =
      !progress.isInteractive ||
      event.epochs <= 100 ||
      event.epoch % Math.ceil(event.epochs / 100) === 0;
    if (shown || event.epoch === event.epochs) {
      progress.log(
        `${where}epoch ${event.epoch}/${event.epochs}  loss ${loss}  ${formatDuration(event.epochMs)}`,
      );
    }
  }
}
