import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FFNetwork, LabelledImages } from "@ffads/ff-core";

import { runAds } from "./run.ts";
import { mnistImages, trainSmallNetwork } from "./testing.ts";

let images: LabelledImages;
let network: FFNetwork;

beforeAll(async () => {
  await tf.setBackend("cpu");
  images = await mnistImages("test", 8, 100);
  network = await trainSmallNetwork({ layerSizes: [784, 32, 16] }, {}, 1000);
}, 60_000);

afterAll(() => network?.dispose());

it("matches the reference on cpu", { timeout: 30_000 }, async () => {
  const options = {
    windowSize: 4,
    stride: 3,
    baseline: { kind: "mean" },
  } as const;
  const before = tf.memory().numTensors;
  const reference = await runAds({
    network,
    images,
    options: { ...options, method: "reference" },
  });
  const fast = await runAds({ network, images, options });
  expect(fast.cleanAccuracy).toBe(reference.cleanAccuracy);
  for (const name of [
    "ads",
    "classAds",
    "occludedAccuracy",
    "sampleMaps",
  ] as const) {
    const mismatches = Array.from(fast[name]).filter(
      (value, i) => !Object.is(value, reference[name][i]),
    );
    expect(mismatches, name).toEqual([]);
  }
  expect(tf.memory().numTensors).toBe(before);
});
