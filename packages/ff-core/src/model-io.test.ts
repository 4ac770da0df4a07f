import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  mkdtemp,
  readFile,
  readdir,
  rm,
  truncate,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { presetRecipe } from "./config.ts";
import { loadModel, saveModel, type ModelMetadata } from "./model-io.ts";
import { FFNetwork } from "./network.ts";

let directory: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
});

afterEach(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

function metadata(): ModelMetadata {
  const recipe = presetRecipe("default");
  return {
    kind: "ff",
    recipe: {
      ...recipe.settings,
      name: recipe.name,
      negatives: recipe.training.negatives,
      schedule: recipe.training.schedule,
    },
    training: {
      epochs: 1,
      batchSize: 100,
      learningRate: 0.01,
      learningRateDecay: 1,
      seed: 4,
      backend: "cpu",
      trainCount: 100,
      wallTimeMs: 12,
      stopped: false,
    },
    dataset: {
      name: "mnist",
      imageShape: [28, 28],
      classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    },
    metrics: { trainAccuracy: 0.5, testAccuracy: 0.25 },
    lossHistory: {
      unit: "epoch",
      layers: [
        [1.5, 1.25],
        [1.4, 1.2],
      ],
    },
  };
}

async function savedNetwork(): Promise<FFNetwork> {
  directory = await mkdtemp(path.join(os.tmpdir(), "ffads-model-"));
  const network = FFNetwork.create(
    { layerSizes: [784, 16, 8], normalization: "rms", goodness: "sum" },
    presetRecipe("default").settings,
    9,
  );
  await saveModel(directory, network, metadata());
  return network;
}

describe("model folder", () => {
  it("loads back the exact weights and metadata", async () => {
    const network = await savedNetwork();
    const loaded = await loadModel(directory);
    const before = network.toArrays();
    const after = loaded.network.toArrays();
    expect(after.length).toBe(2);
    after.forEach((layer, i) => {
      expect(layer.kernel).toEqual(before[i]!.kernel);
      expect(layer.bias).toEqual(before[i]!.bias);
    });
    expect(loaded.network.architecture).toEqual(network.architecture);
    expect(loaded.network.settings).toEqual(network.settings);
    expect(loaded.model.lossHistory.layers).toEqual([
      [1.5, 1.25],
      [1.4, 1.2],
    ]);
    expect(loaded.model.metrics.testAccuracy).toBe(0.25);
    network.dispose();
    loaded.network.dispose();
  });

  it("writes weights as little-endian float32 in manifest order", async () => {
    const network = await savedNetwork();
    const bytes = await readFile(path.join(directory, "weights.bin"));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const kernel0 = network.toArrays()[0]!.kernel;
    expect(view.getFloat32(0, true)).toBe(kernel0[0]);
    expect(view.getFloat32(4 * 5, true)).toBe(kernel0[5]);
    expect(bytes.length).toBe(4 * (784 * 16 + 16 + 16 * 8 + 8));
    network.dispose();
  });

  it("leaves no temporary files behind", async () => {
    (await savedNetwork()).dispose();
    expect((await readdir(directory)).sort()).toEqual([
      "model.json",
      "weights.bin",
    ]);
  });

  it("rejects truncated weights", async () => {
    (await savedNetwork()).dispose();
    await truncate(path.join(directory, "weights.bin"), 1000);
    await expect(loadModel(directory)).rejects.toThrow(
      /weights\.bin has 1000 bytes.*truncated/,
    );
  });

  it("rejects missing weights", async () => {
    (await savedNetwork()).dispose();
    await rm(path.join(directory, "weights.bin"));
    await expect(loadModel(directory)).rejects.toThrow(
      /weights\.bin is missing/,
    );
  });

  it("rejects an unknown format version", async () => {
    (await savedNetwork()).dispose();
    const modelPath = path.join(directory, "model.json");
    const model = JSON.parse(await readFile(modelPath, "utf8"));
    model.version = 7;
    await writeFile(modelPath, JSON.stringify(model));
    await expect(loadModel(directory)).rejects.toMatchObject({
      code: "MODEL_VERSION",
    });
  });

  it("rejects a folder without model.json", async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), "ffads-model-"));
    await expect(loadModel(directory)).rejects.toMatchObject({
      code: "MODEL_NOT_FOUND",
    });
  });

  it("rejects a model.json without its dataset", async () => {
    (await savedNetwork()).dispose();
    const modelPath = path.join(directory, "model.json");
    const model = JSON.parse(await readFile(modelPath, "utf8"));
    delete model.dataset;
    await writeFile(modelPath, JSON.stringify(model));
    await expect(loadModel(directory)).rejects.toThrow(/lacks "dataset.name"/);
  });

  it("rejects a weights path outside the folder", async () => {
    (await savedNetwork()).dispose();
    const modelPath = path.join(directory, "model.json");
    const model = JSON.parse(await readFile(modelPath, "utf8"));
    model.weightsManifest[0].paths = ["../other/weights.bin"];
    await writeFile(modelPath, JSON.stringify(model));
    await expect(loadModel(directory)).rejects.toThrow(/plain file name/);
  });

  it("rejects invalid JSON", async () => {
    (await savedNetwork()).dispose();
    await writeFile(path.join(directory, "model.json"), '{"format": ');
    await expect(loadModel(directory)).rejects.toMatchObject({
      code: "MODEL_FORMAT",
    });
  });
});
