import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { loadDataset } from "@ffads/datasets";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { presetRecipe, type NegativeLabels, type Recipe } from "./config.ts";
import type { LabelledImages } from "./data.ts";
import type { TrainEvent } from "./events.ts";
import { layerStepCost, partitionLayers, trainPipelined } from "./pipeline.ts";
import { trainFF, type TrainOptions, type TrainResult } from "./train.ts";

/** Worker threads started by the code under test that have not exited yet. */
const liveWorkers = vi.hoisted(() => new Set<object>());

vi.mock("node:worker_threads", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:worker_threads")>();
  class TrackedWorker extends actual.Worker {
    constructor(...args: ConstructorParameters<typeof actual.Worker>) {
      super(...args);
      liveWorkers.add(this);
      this.once("exit", () => liveWorkers.delete(this));
    }
  }
  return { ...actual, Worker: TrackedWorker };
});

const IMAGES = 600;
let mnist: LabelledImages;

beforeAll(async () => {
  const set = await loadDataset("mnist", "train");
  mnist = {
    images: set.images.subarray(0, IMAGES * 784),
    labels: set.labels.subarray(0, IMAGES),
    count: IMAGES,
    pixels: 784,
  };
});

afterEach(() => {
  delete process.env.FAILING_STAGE_WHEN;
});

function smallRecipe(
  negatives: NegativeLabels,
  layerSizes = [784, 64, 32],
): Recipe {
  const recipe = presetRecipe("default");
  recipe.architecture.layerSizes = layerSizes;
  recipe.training = {
    ...recipe.training,
    schedule: "joint",
    negatives,
    epochs: 2,
    batchSize: 100,
    trainCount: IMAGES,
  };
  return recipe;
}

/** Returns a smaller recipe for the cpu backend, whose kernels are plain JavaScript. */
function cpuRecipe(negatives: NegativeLabels): Recipe {
  const recipe = smallRecipe(negatives, [784, 32, 16]);
  recipe.training.batchSize = 50;
  recipe.training.trainCount = 300;
  return recipe;
}

/** Events without their wall times, which differ from run to run. */
function timeless(events: TrainEvent[]): unknown[] {
  return events.map((event) => {
    if (event.type === "epoch") return { ...event, epochMs: 0 };
    if (event.type === "end") return { ...event, wallTimeMs: 0 };
    if (event.type === "start") return { ...event, threads: 0 };
    return event;
  });
}

async function trainRecording(
  options: TrainOptions,
): Promise<{ result: TrainResult; events: TrainEvent[] }> {
  const events: TrainEvent[] = [];
  const result = await trainFF({
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  return { result, events };
}

/** Trains on one thread and with `threads`, and checks that weights, losses and events are equal. */
async function expectSameAsOneThread(
  recipe: Recipe,
  threads: number,
): Promise<void> {
  const single = await trainRecording({ recipe, train: mnist });
  const before = tf.memory().numTensors;
  const piped = await trainRecording({ recipe, train: mnist, threads });

  expect(piped.events[0]).toMatchObject({ type: "start", threads });
  const expected = single.result.network.toArrays();
  piped.result.network.toArrays().forEach((layer, i) => {
    expect(layer.kernel, `kernel of layer ${i}`).toEqual(expected[i]!.kernel);
    expect(layer.bias, `bias of layer ${i}`).toEqual(expected[i]!.bias);
  });
  expect(piped.result.lossHistory).toEqual(single.result.lossHistory);
  expect(piped.result.stopped).toBe(false);
  expect(timeless(piped.events)).toEqual(timeless(single.events));

  const layerTensors = 2 * piped.result.network.layers.length;
  expect(tf.memory().numTensors).toBe(before + layerTensors);
  single.result.network.dispose();
  piped.result.network.dispose();
  expect(liveWorkers.size).toBe(0);
}

describe(
  "pipelined joint training on the cpu backend",
  { timeout: 60_000 },
  () => {
    beforeAll(async () => {
      await tf.setBackend("cpu");
    });

    for (const negatives of ["hard", "resample"] as const) {
      it(`equals one thread with ${negatives} negatives`, async () => {
        await expectSameAsOneThread(cpuRecipe(negatives), 2);
      });
    }
  },
);

describe(
  "pipelined joint training on the wasm backend",
  { timeout: 60_000 },
  () => {
    beforeAll(async () => {
      await tf.setBackend("wasm");
    });

    for (const negatives of ["hard", "resample"] as const) {
      it(`equals one thread with ${negatives} negatives`, async () => {
        await expectSameAsOneThread(smallRecipe(negatives), 2);
      });
    }

    it("equals one thread at full batch with fixed negatives", async () => {
      const recipe = smallRecipe("fixed");
      recipe.training.batchSize = 0;
      recipe.training.epochs = 3;
      await expectSameAsOneThread(recipe, 2);
    });

    it("equals one thread with three stages", async () => {
      const recipe = smallRecipe("hard", [784, 48, 40, 32]);
      await expectSameAsOneThread(recipe, 3);
    });

    it("continues training a given network in place", async () => {
      const recipe = smallRecipe("hard");
      recipe.training.epochs = 1;
      const single = await trainFF({ recipe, train: mnist });
      const piped = await trainFF({ recipe, train: mnist, threads: 2 });
      const continuedSingle = await trainFF({
        recipe,
        train: mnist,
        network: single.network,
      });
      const continuedPiped = await trainFF({
        recipe,
        train: mnist,
        network: piped.network,
        threads: 2,
      });
      expect(continuedPiped.network).toBe(piped.network);
      expect(continuedPiped.network.toArrays()).toEqual(
        continuedSingle.network.toArrays(),
      );
      single.network.dispose();
      piped.network.dispose();
    });

    it("stops after the same step as one thread when aborted", async () => {
      const recipe = smallRecipe("hard");
      const abortAt = (step: number) => {
        const controller = new AbortController();
        return {
          signal: controller.signal,
          onEvent: (event: TrainEvent) => {
            if (event.type === "step" && event.completedSteps === step)
              controller.abort();
          },
        };
      };
      // Step 4 is inside the first epoch; step 10 ends it, so its loss is kept.
      for (const step of [4, 10]) {
        const single = await trainRecording({
          recipe,
          train: mnist,
          ...abortAt(step),
        });
        const piped = await trainRecording({
          recipe,
          train: mnist,
          threads: 2,
          ...abortAt(step),
        });
        expect(piped.result.stopped).toBe(true);
        expect(
          piped.events.filter((event) => event.type === "step"),
        ).toHaveLength(step);
        expect(timeless(piped.events)).toEqual(timeless(single.events));
        expect(piped.result.lossHistory).toEqual(single.result.lossHistory);
        expect(piped.result.network.toArrays()).toEqual(
          single.result.network.toArrays(),
        );
        single.result.network.dispose();
        piped.result.network.dispose();
        expect(liveWorkers.size).toBe(0);
      }
    });

    it("returns the initial network when aborted before the first step", async () => {
      const recipe = smallRecipe("hard");
      const signal = AbortSignal.abort();
      const single = await trainFF({ recipe, train: mnist, signal });
      const piped = await trainFF({ recipe, train: mnist, signal, threads: 2 });
      expect(piped.stopped).toBe(true);
      expect(piped.network.toArrays()).toEqual(single.network.toArrays());
      single.network.dispose();
      piped.network.dispose();
    });

    it("terminates the workers when an event listener throws", async () => {
      const failAtStep3 = (event: TrainEvent): void => {
        if (event.type === "step" && event.completedSteps === 3)
          throw new Error("listener failed");
      };
      const tensorsLeftBy = async (threads: number): Promise<number> => {
        const before = tf.memory().numTensors;
        await expect(
          trainFF({
            recipe: smallRecipe("hard"),
            train: mnist,
            threads,
            onEvent: failAtStep3,
          }),
        ).rejects.toThrow("listener failed");
        return tf.memory().numTensors - before;
      };
      const left = await tensorsLeftBy(2);
      expect(liveWorkers.size).toBe(0);
      // Only the 4 tensors of the network the run created, which is lost with the error.
      expect(left).toBe(4);
    });

    for (const when of ["start", "step"] as const) {
      it(`rejects and terminates the workers when a stage fails at ${when}`, async () => {
        process.env.FAILING_STAGE_WHEN = when;
        const recipe = smallRecipe("hard");
        const run = trainPipelined(
          { recipe, train: mnist },
          2,
          new URL("../test/failing-stage.ts", import.meta.url),
        );
        // At start both stages fail, and whichever reports first is named.
        await expect(run).rejects.toThrow(
          when === "start"
            ? /^pipeline stage [01] \(layers [01]\) failed: the stage failed to start on purpose$/
            : /^pipeline stage 0 \(layers 0\) failed: the stage failed on purpose$/,
        );
        expect(liveWorkers.size).toBe(0);
      });
    }
  },
);

describe("training with threads that cannot be pipelined", () => {
  beforeAll(async () => {
    await tf.setBackend("wasm");
  });

  it("runs the sequential schedule on one thread", async () => {
    const recipe = smallRecipe("hard");
    recipe.training.schedule = "sequential";
    recipe.training.epochs = 1;
    const { result, events } = await trainRecording({
      recipe,
      train: mnist,
      threads: 2,
    });
    expect(events[0]).toMatchObject({ type: "start", threads: 1 });
    result.network.dispose();
  });

  it("runs a one-layer network on one thread", async () => {
    const recipe = smallRecipe("hard", [784, 32]);
    recipe.training.epochs = 1;
    const { result, events } = await trainRecording({
      recipe,
      train: mnist,
      threads: 2,
    });
    expect(events[0]).toMatchObject({ type: "start", threads: 1 });
    result.network.dispose();
  });

  it("rejects a thread count that is not a positive integer", async () => {
    for (const threads of [0, 1.5, -2]) {
      await expect(
        trainFF({ recipe: smallRecipe("hard"), train: mnist, threads }),
      ).rejects.toThrow(`threads ${threads} must be a positive integer`);
    }
  });
});

describe("partitionLayers", () => {
  it("gives each layer its own stage when there are enough", () => {
    expect(partitionLayers([784, 500, 500], 2, 100, true)).toEqual([[0], [1]]);
    expect(partitionLayers([784, 500, 500], 4, 100, true)).toEqual([[0], [1]]);
  });

  it("estimates the first layer with hard negatives as the costliest", () => {
    // Measured on wasm for 784-500-500 at batch 100: 17.8 s against 9.1 s of CPU time per epoch.
    const first = layerStepCost([784, 500, 500], 0, 100, true);
    const second = layerStepCost([784, 500, 500], 1, 100, true);
    expect(first / second).toBeGreaterThan(1.4);
    expect(first / second).toBeLessThan(2.2);
    expect(layerStepCost([784, 500, 500], 0, 100, false)).toBeLessThan(first);
  });

  it("groups consecutive layers so the costliest stage is cheapest", () => {
    expect(partitionLayers([784, 500, 500, 500], 2, 100, true)).toEqual([
      [0],
      [1, 2],
    ]);
    expect(partitionLayers([784, 100, 500, 500], 2, 100, true)).toEqual([
      [0, 1],
      [2],
    ]);
  });

  it("puts every layer in one stage for one thread", () => {
    expect(partitionLayers([784, 500, 500, 500], 1, 100, true)).toEqual([
      [0, 1, 2],
    ]);
  });
});
