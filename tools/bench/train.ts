// Times training epochs: both layers of the `paper` preset (the recipe of arXiv 2409.15365) at
// full batch, and the `default` preset.
import os from "node:os";

import * as tf from "@tensorflow/tfjs-core";
// The union package registers the gradients that tf.grads needs, for the autodiff comparison.
import "@tensorflow/tfjs";
import { loadDataset } from "@ffads/datasets";
import {
  FFNetwork,
  presetRecipe,
  rawImagesToTensor,
  trainFF,
  type LabelledImages,
  type Recipe,
} from "@ffads/ff-core";

import { median, setupBackend, type BenchFigures } from "./common.ts";

const PAPER_EPOCHS = 4;
const DEFAULT_EPOCHS = 2;
const AUTODIFF_IMAGES = 10000;

/** Measures epoch times of the `paper` preset per layer and of the `default` preset, in milliseconds. */
export async function benchTraining(): Promise<BenchFigures> {
  const backend = await setupBackend();
  const set = await loadDataset("mnist", "train");
  const train: LabelledImages = {
    images: set.images,
    labels: set.labels,
    count: set.count,
    pixels: set.rows * set.cols,
  };

  const paper = presetRecipe("paper");
  paper.training.epochs = PAPER_EPOCHS;
  const paperEpochs = await epochTimes(paper, train);
  const firstLayerMs = median(paperEpochs[0]!.slice(1));
  const secondLayerMs = median(paperEpochs[1]!.slice(1));

  const autodiffMs = await autodiffFirstLayerEpochMs(paper, train);

  const recipe = presetRecipe("default");
  recipe.training.epochs = DEFAULT_EPOCHS;
  const defaultEpochs = await epochTimes(recipe, train);
  const defaultMs = median(defaultEpochs[0]!);

  return {
    machine: `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, Node ${process.version}`,
    backend,
    paperFirstLayerEpochMs: Math.round(firstLayerMs),
    paperSecondLayerEpochMs: Math.round(secondLayerMs),
    paperFirstLayerAutodiffEpochMs: Math.round(autodiffMs),
    closedFormSpeedup: round(autodiffMs / firstLayerMs),
    defaultEpochMs: Math.round(defaultMs),
    defaultEpochs: recipe.training.epochs,
    pytorchFirstLayerEpochMs: 2400,
    pytorchSecondLayerEpochMs: 1700,
    ratioToPytorchFirstLayer: round(firstLayerMs / 2400),
    ratioToPytorchSecondLayer: round(secondLayerMs / 1700),
  };
}

/** Epoch times per layer; for the joint schedule everything is under layer 0. */
async function epochTimes(
  recipe: Recipe,
  train: LabelledImages,
): Promise<number[][]> {
  const times: number[][] = recipe.architecture.layerSizes
    .slice(1)
    .map(() => []);
  const result = await trainFF({
    recipe,
    train,
    onEvent: (event) => {
      if (event.type === "epoch") {
        times[event.layer ?? 0]!.push(event.epochMs);
        process.stderr.write(
          `  ${recipe.name} layer ${event.layer ?? "all"} epoch ${event.epoch}: ${Math.round(event.epochMs)} ms\n`,
        );
      }
    },
  });
  result.network.dispose();
  return times;
}

/**
 * Times epochs of the `paper` preset's first layer with gradients from tfjs autodiff (the optimiser's
 * minimize on the plain loss), for comparison with the closed form.
 */
async function autodiffFirstLayerEpochMs(
  recipe: Recipe,
  train: LabelledImages,
): Promise<number> {
  // NOTE: at the full batch of 50,000 the autodiff graph's intermediates overflow the wasm
  // backend's 4 GiB memory ("memory access out of bounds"), so this times 10,000 images and
  // scales the epoch time by 5.
  const count = AUTODIFF_IMAGES;
  const network = FFNetwork.create(recipe.architecture, recipe.settings, 1);
  const layer = network.layers[0]!;
  const { threshold } = recipe.settings;
  const times: number[] = [];
  const data = tf.tidy(() => {
    const inputs = network.standardize(rawImagesToTensor(train, 0, count));
    const labels = tf.tensor1d(
      Int32Array.from(train.labels.subarray(0, count)),
      "int32",
    );
    const wrong = tf.mod(
      tf.add(labels, tf.scalar(1, "int32")),
      10,
    ) as tf.Tensor1D;
    return tf.concat(
      [network.embedLabels(inputs, labels), network.embedLabels(inputs, wrong)],
      0,
    ) as tf.Tensor2D;
  });
  const optimizer = tf.train.adam(recipe.training.learningRate);
  for (let epoch = 0; epoch < 3; epoch++) {
    const started = performance.now();
    tf.tidy(() => {
      optimizer.minimize(
        () => {
          const activity = tf.relu(
            tf.add(
              tf.matMul(network.normalizeRows(data), layer.kernel),
              layer.bias,
            ),
          ) as tf.Tensor2D;
          const goodness = network.goodness(activity);
          const positive = tf.slice(goodness, [0], [count]);
          const negative = tf.slice(goodness, [count], [count]);
          return tf.add(
            tf.mean(tf.softplus(tf.sub(threshold, positive))),
            tf.mean(tf.softplus(tf.sub(negative, threshold))),
          ) as tf.Scalar;
        },
        false,
        [layer.kernel, layer.bias],
      );
    });
    await layer.kernel.data();
    times.push(performance.now() - started);
    process.stderr.write(
      `  autodiff layer 0 epoch ${epoch + 1}: ${Math.round(times.at(-1)!)} ms\n`,
    );
  }
  data.dispose();
  optimizer.dispose();
  network.dispose();
  return (median(times.slice(1)) * recipe.training.trainCount) / count;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
