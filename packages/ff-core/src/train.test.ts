import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { beforeAll, describe, expect, it } from "vitest";

import { presetRecipe, type Recipe } from "./config.ts";
import type { LabelledImages } from "./data.ts";
import type { TrainEvent } from "./events.ts";
import { Trainer, trainFF } from "./train.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function syntheticImages(
  count: number,
  pixels: number,
  seed: number,
): LabelledImages {
  const images = new Uint8Array(count * pixels);
  let state = seed;
  for (let i = 0; i < images.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    images[i] = state % 256;
  }
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % 10);
  return { images, labels, count, pixels };
}

function smallRecipe(overrides: Partial<Recipe["architecture"]> = {}): Recipe {
  const recipe = presetRecipe("default");
  recipe.architecture = {
    layerSizes: [24, 9, 7],
    normalization: "l2",
    goodness: "mean",
    ...overrides,
  };
  recipe.training = {
    ...recipe.training,
    negatives: "fixed",
    batchSize: 6,
    trainCount: 6,
  };
  recipe.settings.threshold = 0.05;
  return recipe;
}

/**
 * Gradients of the FF loss by tfjs autodiff, each layer on the stop-gradient input of the one below,
 * with the labels embedded in the plain way.
 */
function autodiffGradients(
  trainer: Trainer,
  data: LabelledImages,
  negatives: Int32Array,
): tf.Tensor[][] {
  const network = trainer.network;
  const { threshold } = network.settings;
  return tf.tidy(() => {
    const raw = tf.div(
      tf.tensor2d(Float32Array.from(data.images), [data.count, data.pixels]),
      255,
    ) as tf.Tensor2D;
    const inputs = network.standardize(raw);
    const positive = network.embedLabels(
      inputs,
      tf.tensor1d(Int32Array.from(data.labels), "int32"),
    );
    const negative = network.embedLabels(
      inputs,
      tf.tensor1d(negatives, "int32"),
    );
    let input = tf.concat([positive, negative], 0) as tf.Tensor2D;
    const gradients: tf.Tensor[][] = [];
    network.layers.forEach((layer, i) => {
      const layerInput = tf.clone(input);
      const loss = (kernel: tf.Tensor, bias: tf.Tensor): tf.Scalar => {
        const activity = tf.relu(
          tf.add(tf.matMul(network.normalizeRows(layerInput), kernel), bias),
        ) as tf.Tensor2D;
        const goodness = network.goodness(activity);
        const pos = tf.slice(goodness, [0], [data.count]);
        const neg = tf.slice(goodness, [data.count], [data.count]);
        return tf.add(
          tf.mean(tf.softplus(tf.sub(threshold, pos))),
          tf.mean(tf.softplus(tf.sub(neg, threshold))),
        );
      };
      const grads = tf.grads(loss)([layer.kernel, layer.bias]);
      gradients.push(grads);
      input = network.layerActivity(i, layerInput);
    });
    return gradients;
  });
}

describe("closed-form FF gradients", () => {
  for (const normalization of ["l2", "rms"] as const) {
    for (const goodness of ["mean", "sum"] as const) {
      it(`match autodiff with ${normalization} normalization and ${goodness} goodness`, () => {
        const data = syntheticImages(6, 24, 3);
        const trainer = new Trainer({
          recipe: smallRecipe({ normalization, goodness }),
          train: data,
        });
        try {
          const indices = Int32Array.from([0, 1, 2, 3, 4, 5]);
          const closedForm = trainer.gradientsFor(indices);
          const reference = autodiffGradients(
            trainer,
            data,
            trainer.fixedNegatives!,
          );
          closedForm.forEach((step, layer) => {
            const [kernelReference, biasReference] = reference[layer]!;
            const kernelScale = Math.max(
              1e-6,
              tf.max(tf.abs(kernelReference!)).dataSync()[0]!,
            );
            const kernelError = tf
              .max(tf.abs(tf.sub(step.kernelGradient, kernelReference!)))
              .dataSync()[0]!;
            const biasError = tf
              .max(tf.abs(tf.sub(step.biasGradient, biasReference!)))
              .dataSync()[0]!;
            expect(kernelError / kernelScale).toBeLessThan(1e-4);
            expect(biasError / kernelScale).toBeLessThan(1e-4);
          });
        } finally {
          trainer.dispose();
        }
      });
    }
  }
});

describe("training", () => {
  function tinyRecipe(
    schedule: "joint" | "sequential",
    negatives: "fixed" | "resample" | "hard",
  ): Recipe {
    const recipe = presetRecipe("default");
    recipe.architecture = {
      layerSizes: [64, 12, 10],
      normalization: "l2",
      goodness: "mean",
    };
    recipe.training = {
      ...recipe.training,
      schedule,
      negatives,
      epochs: 3,
      batchSize: 20,
      trainCount: 60,
      learningRate: 0.01,
      seed: 5,
    };
    return recipe;
  }

  it("does not grow the tensor count across steps", async () => {
    for (const schedule of ["joint", "sequential"] as const) {
      for (const negatives of ["fixed", "resample", "hard"] as const) {
        const counts: number[] = [];
        const result = await trainFF({
          recipe: tinyRecipe(schedule, negatives),
          train: syntheticImages(60, 64, 2),
          onEvent: (event) => {
            if (event.type === "step") counts.push(tf.memory().numTensors);
          },
        });
        const perLayerSteps = 3 * 3;
        // Within one layer's training every step must end with the same number of tensors.
        for (let start = 0; start < counts.length; start += perLayerSteps) {
          const layerCounts = counts.slice(start, start + perLayerSteps);
          expect(
            new Set(layerCounts).size,
            `${schedule}/${negatives}: ${layerCounts.join(",")}`,
          ).toBe(1);
        }
        const before = tf.memory().numTensors;
        result.network.dispose();
        expect(tf.memory().numTensors).toBe(before - 4);
      }
    }
  });

  it("leaves only the network after it returns", async () => {
    const before = tf.memory().numTensors;
    const result = await trainFF({
      recipe: tinyRecipe("sequential", "fixed"),
      train: syntheticImages(60, 64, 2),
    });
    expect(tf.memory().numTensors).toBe(before + 4);
    result.network.dispose();
  });

  it("repeats exactly for the same seed on the cpu backend", async () => {
    const first = await trainFF({
      recipe: tinyRecipe("joint", "hard"),
      train: syntheticImages(60, 64, 2),
    });
    const second = await trainFF({
      recipe: tinyRecipe("joint", "hard"),
      train: syntheticImages(60, 64, 2),
    });
    const a = first.network.toArrays();
    const b = second.network.toArrays();
    a.forEach((layer, i) => {
      expect(layer.kernel).toEqual(b[i]!.kernel);
      expect(layer.bias).toEqual(b[i]!.bias);
    });
    expect(first.lossHistory).toEqual(second.lossHistory);
    const otherSeed = tinyRecipe("joint", "hard");
    otherSeed.training.seed = 6;
    const third = await trainFF({
      recipe: otherSeed,
      train: syntheticImages(60, 64, 2),
    });
    expect(third.network.toArrays()[0]!.kernel).not.toEqual(a[0]!.kernel);
    [first, second, third].forEach((result) => result.network.dispose());
  });

  it("reports typed progress events in order", async () => {
    const events: TrainEvent[] = [];
    const result = await trainFF({
      recipe: tinyRecipe("sequential", "resample"),
      train: syntheticImages(60, 64, 2),
      onEvent: (event) => events.push(event),
    });
    result.network.dispose();
    expect(events[0]).toMatchObject({
      type: "start",
      layerCount: 2,
      totalSteps: 2 * 3 * 3,
      stepsPerEpoch: 3,
    });
    const epochs = events.filter((event) => event.type === "epoch");
    expect(epochs.map((event) => [event.layer, event.epoch])).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    expect(events.filter((event) => event.type === "step")).toHaveLength(18);
    expect(events.at(-1)).toMatchObject({ type: "end", stopped: false });
    expect(result.lossHistory.map((layer) => layer.length)).toEqual([3, 3]);
  });

  it("stops after the current step when aborted", async () => {
    const controller = new AbortController();
    let steps = 0;
    const result = await trainFF({
      recipe: tinyRecipe("joint", "fixed"),
      train: syntheticImages(60, 64, 2),
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === "step" && ++steps === 4) controller.abort();
      },
    });
    expect(result.stopped).toBe(true);
    expect(steps).toBe(4);
    result.network.dispose();
  });

  it("rejects images that do not match the first layer", async () => {
    await expect(
      trainFF({
        recipe: tinyRecipe("joint", "fixed"),
        train: syntheticImages(60, 32, 2),
      }),
    ).rejects.toThrow(/32 pixels but the first layer size is 64/);
  });
});
