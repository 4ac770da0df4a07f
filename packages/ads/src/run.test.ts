import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FFNetwork, LabelledImages } from "@ffads/ff-core";

import type { Classifier } from "./classifier.ts";
import { AdsError } from "./errors.ts";
import type { AdsEvent } from "./events.ts";
import type { AdsOptions } from "./options.ts";
import { runAds, type AdsResult } from "./run.ts";
import { mnistImages, trainSmallNetwork } from "./testing.ts";

const ARRAYS = [
  "ads",
  "occludedAccuracy",
  "classAds",
  "classCleanAccuracy",
  "classImageCount",
  "sampleImages",
  "sampleMaps",
  "sampleCleanMargin",
] as const;

/** Indices where two arrays differ, NaN equal to NaN, at most `limit` of them. */
function differences(a: Float32Array, b: Float32Array, limit = 5): number[] {
  const found: number[] = [];
  for (
    let i = 0;
    i < Math.max(a.length, b.length) && found.length < limit;
    i++
  ) {
    if (!Object.is(a[i], b[i])) found.push(i);
  }
  return found;
}

function expectSameMaps(fast: AdsResult, reference: AdsResult): void {
  expect(fast.cleanAccuracy).toBe(reference.cleanAccuracy);
  expect(Array.from(fast.cleanPredictions)).toEqual(
    Array.from(reference.cleanPredictions),
  );
  expect(fast.samples).toEqual(reference.samples);
  for (const name of ARRAYS) {
    expect(fast[name].length, name).toBe(reference[name].length);
    expect(differences(fast[name], reference[name]), name).toEqual([]);
  }
}

let images: LabelledImages;
let twoLayers: FFNetwork;
let threeLayers: FFNetwork;
let oneLayer: FFNetwork;
const pairTotals = { certified: 0, updated: 0, plain: 0 };

beforeAll(async () => {
  await tf.setBackend("wasm");
  images = await mnistImages("test", 24);
  twoLayers = await trainSmallNetwork({ layerSizes: [784, 64, 32] }, {}, 3000);
  threeLayers = await trainSmallNetwork(
    { layerSizes: [784, 48, 32, 24], normalization: "rms", goodness: "sum" },
    { predictionSkipsFirstLayer: true },
  );
  oneLayer = await trainSmallNetwork({ layerSizes: [784, 40] });
}, 60_000);

afterAll(() => {
  twoLayers?.dispose();
  threeLayers?.dispose();
  oneLayer?.dispose();
});

describe("fast path equals reference path", () => {
  const cases: [string, () => FFNetwork, AdsOptions][] = [
    ["784-64-32, 3x3, stride 1, zero", () => twoLayers, { windowSize: 3 }],
    [
      "784-64-32, 4x4, stride 3, mean",
      () => twoLayers,
      { windowSize: 4, stride: 3, baseline: { kind: "mean" } },
    ],
    [
      "784-64-32, 2x2, stride 2, constant 0.5",
      () => twoLayers,
      { windowSize: 2, stride: 2, baseline: { kind: "constant", value: 0.5 } },
    ],
    [
      "784-64-32, 7x7, stride 5, constant 1",
      () => twoLayers,
      { windowSize: 7, stride: 5, baseline: { kind: "constant", value: 1 } },
    ],
    [
      "784-48-32-24 rms sum, 3x3, stride 2, zero",
      () => threeLayers,
      { windowSize: 3, stride: 2 },
    ],
    [
      "784-48-32-24 rms sum, 4x4, stride 1, mean",
      () => threeLayers,
      { windowSize: 4, stride: 1, baseline: { kind: "mean" } },
    ],
    [
      "784-40, 5x5, stride 2, constant 0.25",
      () => oneLayer,
      { windowSize: 5, stride: 2, baseline: { kind: "constant", value: 0.25 } },
    ],
  ];

  it.each(cases)("%s", { timeout: 30_000 }, async (_, network, options) => {
    const reference = await runAds({
      network: network(),
      images,
      options: { ...options, method: "reference" },
    });
    const fast = await runAds({ network: network(), images, options });
    expectSameMaps(fast, reference);
    expect(reference.pairs.plain).toBe(reference.pairs.total);
    expect(
      fast.pairs.unchanged +
        fast.pairs.certified +
        fast.pairs.updated +
        fast.pairs.plain,
    ).toBe(fast.pairs.total);
    for (const key of ["certified", "updated", "plain"] as const)
      pairTotals[key] += fast.pairs[key];
  });

  it("exercises every settling stage", () => {
    expect(pairTotals.certified).toBeGreaterThan(0);
    expect(pairTotals.updated).toBeGreaterThan(0);
    expect(pairTotals.plain).toBeGreaterThan(0);
  });

  it("holds without certification", async () => {
    const options: AdsOptions = { windowSize: 5, stride: 3 };
    const reference = await runAds({
      network: twoLayers,
      images,
      options: { ...options, method: "reference" },
    });
    const fast = await runAds({
      network: twoLayers,
      images,
      options: { ...options, certify: false, batchSize: 64 },
    });
    expectSameMaps(fast, reference);
    expect(fast.pairs.certified).toBe(0);
  });

  it("holds for a generic classifier", async () => {
    const classifier: Classifier = {
      inputSize: 784,
      classCount: 10,
      protectedPixels: 10,
      labelScores: (raw) => twoLayers.labelScoresPlain(raw),
    };
    const options: AdsOptions = { windowSize: 6, stride: 4 };
    const reference = await runAds({
      network: classifier,
      images,
      options: { ...options, method: "reference" },
    });
    const fast = await runAds({ network: classifier, images, options });
    expectSameMaps(fast, reference);
    expect(fast.pairs.unchanged).toBeGreaterThan(0);
  });
});

describe("runAds", () => {
  it("never occludes the label pixels", async () => {
    const seen: Float32Array[] = [];
    const classifier: Classifier = {
      inputSize: 784,
      classCount: 10,
      protectedPixels: 10,
      labelScores: (raw) => {
        seen.push(raw.dataSync() as Float32Array);
        return twoLayers.labelScoresPlain(raw);
      },
    };
    const few = { ...images, count: 3, labels: images.labels.subarray(0, 3) };
    few.images = images.images.subarray(0, 3 * 784);
    await runAds({
      network: classifier,
      images: few,
      options: {
        method: "reference",
        windowSize: 3,
        stride: 2,
        baseline: { kind: "constant", value: 0.9 },
        samples: { indices: [] },
      },
    });
    let rows = 0;
    for (const batch of seen) {
      for (let row = 0; row < batch.length / 784; row++, rows++) {
        for (let pixel = 0; pixel < 10; pixel++) {
          expect(batch[row * 784 + pixel]).not.toBeCloseTo(0.9, 5);
        }
      }
    }
    // The clean images, then every (image, window) pair.
    expect(rows).toBe(3 + 3 * 14 * 14);
  });

  it("gives zero ADS on label pixels", { timeout: 30_000 }, async () => {
    const options: AdsOptions = {
      windowSize: 1,
      stride: 1,
      baseline: { kind: "constant", value: 0.9 },
      samples: { indices: [0] },
    };
    const few = {
      images: images.images.subarray(0, 4 * 784),
      labels: images.labels.subarray(0, 4),
      count: 4,
      pixels: 784,
    };
    for (const method of ["fast", "reference"] as const) {
      const result = await runAds({
        network: twoLayers,
        images: few,
        options: { ...options, method },
      });
      for (let pixel = 0; pixel < 10; pixel++) {
        expect(result.ads[pixel]).toBe(0);
        expect(result.sampleMaps[pixel]).toBe(0);
      }
    }
  });

  it("measures ADS in accuracy points", { timeout: 30_000 }, async () => {
    const result = await runAds({
      network: twoLayers,
      images,
      options: { windowSize: 7, stride: 1 },
    });
    const windowIndex = 14 * 28 + 14;
    expect(result.ads[windowIndex]).toBeCloseTo(
      (result.cleanAccuracy - result.occludedAccuracy[windowIndex]!) * 100,
      4,
    );
    let correct = 0;
    for (let i = 0; i < images.count; i++) {
      if (result.cleanPredictions[i] === images.labels[i]) correct += 1;
    }
    expect(result.cleanAccuracy).toBe(correct / images.count);
    let counted = 0;
    for (let label = 0; label < 10; label++)
      counted += result.classImageCount[label]!;
    expect(counted).toBe(images.count);
  });

  it("selects default samples per class", async () => {
    const result = await runAds({
      network: twoLayers,
      images,
      options: { windowSize: 14, stride: 14 },
    });
    for (let label = 0; label < 10; label++) {
      const samples = result.samples.filter((s) => s.label === label);
      const correct = samples.filter((s) => s.correct);
      const wrong = samples.filter((s) => !s.correct);
      const available = (want: boolean) =>
        Array.from(images.labels).filter(
          (l, i) => l === label && (result.cleanPredictions[i] === l) === want,
        ).length;
      expect(correct).toHaveLength(Math.min(2, available(true)));
      expect(wrong).toHaveLength(Math.min(1, available(false)));
      // The first ones in image order.
      const firstCorrect = Array.from(images.labels).findIndex(
        (l, i) => l === label && result.cleanPredictions[i] === l,
      );
      if (firstCorrect >= 0) expect(correct[0]!.index).toBe(firstCorrect);
    }
  });

  it("maps sample indices to the split", async () => {
    const imageIndices = Array.from(
      { length: images.count },
      (_, i) => 1000 + i,
    );
    const result = await runAds({
      network: twoLayers,
      images,
      imageIndices,
      options: {
        windowSize: 14,
        stride: 14,
        samples: { indices: [1005, 1002] },
      },
    });
    expect(result.samples.map((s) => s.index)).toEqual([1005, 1002]);
    expect(result.samples.map((s) => s.position)).toEqual([5, 2]);
    expect(result.sampleImages.subarray(0, 784)).toEqual(
      Float32Array.from(
        images.images.subarray(5 * 784, 6 * 784),
        (b) => b / 255,
      ),
    );
  });

  it("reports progress from start to end", async () => {
    const events: AdsEvent[] = [];
    await runAds({
      network: twoLayers,
      images,
      options: { windowSize: 5, stride: 4, batchSize: 256 },
      onEvent: (event) => events.push(event),
    });
    expect(events[0]!.type).toBe("start");
    expect(events.at(-1)!.type).toBe("end");
    const progress = events.filter((e) => e.type === "progress");
    const stages = [...new Set(progress.map((e) => e.stage))];
    expect(stages).toEqual(["clean", "windows", "samples"]);
    for (const stage of stages) {
      const ofStage = progress.filter((e) => e.stage === stage);
      for (let i = 1; i < ofStage.length; i++) {
        expect(ofStage[i]!.completed).toBeGreaterThanOrEqual(
          ofStage[i - 1]!.completed,
        );
      }
      expect(ofStage.at(-1)!.completed).toBe(ofStage.at(-1)!.total);
    }
    const start = events[0] as Extract<AdsEvent, { type: "start" }>;
    expect(start.totalPairs).toBe(start.windowCount * images.count);
  });

  it("stops on abort without leaks", async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const events: AdsEvent[] = [];
    const run = runAds({
      network: twoLayers,
      images,
      options: { windowSize: 3, batchSize: 64 },
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        if (event.type === "progress" && event.stage === "windows")
          controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    const end = events.at(-1)!;
    expect(end.type).toBe("end");
    expect(end.type === "end" ? end.stopped : null).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(["fast", "reference"] as const)(
    "leaves no tensor behind on the %s path",
    async (method) => {
      const before = tf.memory().numTensors;
      await runAds({
        network: twoLayers,
        images,
        options: { windowSize: 6, stride: 5, method },
      });
      await runAds({
        network: threeLayers,
        images,
        options: { windowSize: 6, stride: 5, method },
      });
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it.each([
    [{ windowSize: 0 }, /window size 0/],
    [{ windowSize: 29 }, /exceeds the image size/],
    [{ stride: 1.5 }, /stride 1.5/],
    [{ baseline: { kind: "constant", value: 2 } }, /constant baseline 2/],
    [{ batchSize: 4 }, /batch size 4/],
    [{ samples: { indices: [500] } }, /sample index 500/],
  ] as [AdsOptions, RegExp][])(
    "rejects options %j",
    async (options, message) => {
      const run = runAds({ network: twoLayers, images, options });
      await expect(run).rejects.toThrow(AdsError);
      await expect(run).rejects.toThrow(message);
    },
  );

  it("rejects images of another size", async () => {
    const small = {
      images: new Uint8Array(2 * 100),
      labels: new Uint8Array(2),
      count: 2,
      pixels: 100,
    };
    await expect(runAds({ network: twoLayers, images: small })).rejects.toThrow(
      /images have 100 pixels but the model takes 784 inputs/,
    );
  });
});
