import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";

import { presetRecipe } from "./config.ts";
import { drawWrongLabels } from "./data.ts";
import { FFNetwork, embedLabels, normalizeRows } from "./network.ts";
import { SeededRandom } from "./rng.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("label embedding", () => {
  it("replaces the first 10 inputs by the scaled one-hot label", () => {
    const inputs = tf.tensor2d(
      Array.from({ length: 2 * 12 }, (_, i) => i + 1),
      [2, 12],
    );
    const embedded = embedLabels(inputs, tf.tensor1d([3, 9], "int32"), 2.5);
    expect(Array.from(embedded.dataSync())).toEqual([
      0, 0, 0, 2.5, 0, 0, 0, 0, 0, 0, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.5,
      23, 24,
    ]);
  });
});

describe("negative labels", () => {
  it("never equal the true label and cover all 9 wrong labels", () => {
    const labels = Uint8Array.from({ length: 20000 }, (_, i) => i % 10);
    const wrong = drawWrongLabels(labels, new SeededRandom(7));
    const seen = Array.from({ length: 10 }, () => new Set<number>());
    for (let i = 0; i < labels.length; i++) {
      expect(wrong[i]).not.toBe(labels[i]);
      expect(wrong[i]).toBeGreaterThanOrEqual(0);
      expect(wrong[i]).toBeLessThan(10);
      seen[labels[i]!]!.add(wrong[i]!);
    }
    for (const set of seen) expect(set.size).toBe(9);
  });
});

describe("row normalisation", () => {
  it("gives unit L2 length or unit RMS (hand-worked 3-4-0 row)", () => {
    const row = tf.tensor2d([[3, 4, 0]]);
    const l2 = normalizeRows(row, "l2").dataSync();
    expect(l2[0]).toBeCloseTo(3 / (5 + 1e-4), 6);
    expect(l2[1]).toBeCloseTo(4 / (5 + 1e-4), 6);
    const rms = normalizeRows(row, "rms").dataSync();
    const rmsValue = Math.sqrt(25 / 3) + 1e-4;
    expect(rms[0]).toBeCloseTo(3 / rmsValue, 6);
    expect(rms[1]).toBeCloseTo(4 / rmsValue, 6);
  });
});

describe("label scores", () => {
  for (const normalization of ["l2", "rms"] as const) {
    it(`shared first layer matches the plain path (${normalization})`, () => {
      const recipe = presetRecipe("default");
      const network = FFNetwork.create(
        { layerSizes: [784, 40, 30], normalization, goodness: "mean" },
        recipe.settings,
        11,
      );
      const random = new SeededRandom(5);
      const raw = tf.tensor2d(random.uniform(7 * 784, 0, 1), [7, 784]);
      const plain = network.labelScoresPlain(raw).arraySync();
      const shared = network.labelScores(raw).arraySync();
      for (let i = 0; i < 7; i++) {
        for (let label = 0; label < 10; label++) {
          expect(shared[i]![label]).toBeCloseTo(plain[i]![label]!, 4);
        }
      }
      network.dispose();
    });
  }

  it("skips the first layer when the recipe says so", () => {
    const recipe = presetRecipe("default");
    const architecture = {
      layerSizes: [784, 20, 20],
      normalization: "l2" as const,
      goodness: "sum" as const,
    };
    const all = FFNetwork.create(architecture, recipe.settings, 3);
    const skipping = FFNetwork.create(
      architecture,
      { ...recipe.settings, predictionSkipsFirstLayer: true },
      3,
    );
    const raw = tf.tensor2d(
      new SeededRandom(1).uniform(2 * 784, 0, 1),
      [2, 784],
    );
    const inputs = all.standardize(raw);
    const perLayer = all.allLabelGoodness(inputs).arraySync();
    const scores = skipping.labelScores(raw).arraySync();
    for (let i = 0; i < 2; i++) {
      for (let label = 0; label < 10; label++) {
        expect(scores[i]![label]).toBeCloseTo(perLayer[i]![label]![1]!, 4);
      }
    }
    all.dispose();
    skipping.dispose();
  });
});
