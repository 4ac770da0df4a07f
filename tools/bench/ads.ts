// ADS throughput: the fast path against the reference path, on the same backend and the same
// MNIST test images, for a 784-500-500 FF network, 3 x 3 windows and stride 1.
//
// Run alone with `npx tsx tools/bench/ads.ts` from the repository root. Settings:
// BENCH_BACKEND (default wasm), BENCH_ADS_MODEL (a model folder; by default a 784-500-500 network
// is trained once, in about two minutes, and kept in .cache/bench/ads-model),
// BENCH_ADS_IMAGES (fast path, default 500) and BENCH_ADS_REFERENCE_IMAGES (default 4).
// BENCH_ADS_THREADS sets the threads of the fast path (default 1), and the reference path always
// runs on 1 thread.
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { runAds, type AdsResult } from "@ffads/ads";
import { loadDataset } from "@ffads/datasets";
import {
  evaluateAccuracy,
  loadModel,
  presetRecipe,
  saveModel,
  trainFF,
  type FFNetwork,
  type LabelledImages,
} from "@ffads/ff-core";

import { setupBackend, type BenchFigures } from "./common.ts";

/** Seconds per image of a batched PyTorch occlusion of a 784-500-500 FF network, 3 x 3, stride 1. */
const PYTORCH_SECONDS_PER_IMAGE = 0.41;
const TEST_IMAGES = 10_000;
const CACHED_MODEL = path.join(".cache", "bench", "ads-model");

/** Times both paths and returns images/s, windows/s and the extrapolated full test set time. */
export async function benchAds(): Promise<BenchFigures> {
  const backend = await setupBackend();
  const test = await loadDataset("mnist", "test");
  const all: LabelledImages = {
    images: test.images,
    labels: test.labels,
    count: test.count,
    pixels: test.rows * test.cols,
  };
  const { network, source } = await benchNetwork();
  const testAccuracy = evaluateAccuracy(network, all);

  const fastImages = Number(process.env.BENCH_ADS_IMAGES ?? 500);
  const referenceImages = Number(process.env.BENCH_ADS_REFERENCE_IMAGES ?? 4);
  const fastThreads = Number(process.env.BENCH_ADS_THREADS ?? 1);
  const loadAverageBefore = loadAverage();
  const fast = await timeRun(
    network,
    firstImages(all, fastImages),
    "fast",
    fastThreads,
  );
  const reference = await timeRun(
    network,
    firstImages(all, referenceImages),
    "reference",
    1,
  );
  network.dispose();

  const windowsPerImage = fast.result.gridShape[0] * fast.result.gridShape[1];
  const fastSecondsPerImage = fast.seconds / fastImages;
  const referenceSecondsPerImage = reference.seconds / referenceImages;
  const pairs = fast.result.pairs;
  return {
    machine: `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, Node ${process.version}`,
    loadAverageBefore,
    loadAverageAfter: loadAverage(),
    backend,
    network: `784-500-500 (${source}), test accuracy ${round(testAccuracy, 4)}`,
    window: "3 x 3, stride 1, zero baseline",
    fastImages,
    fastThreads,
    fastImagesPerSecond: round(1 / fastSecondsPerImage),
    fastWindowsPerSecond: Math.round(windowsPerImage / fastSecondsPerImage),
    fastCpuSecondsPerImage: round(fast.cpuSeconds / fastImages, 4),
    fastTestSetMinutes: round((fastSecondsPerImage * TEST_IMAGES) / 60),
    referenceImages,
    referenceImagesPerSecond: round(1 / referenceSecondsPerImage),
    referenceWindowsPerSecond: Math.round(
      windowsPerImage / referenceSecondsPerImage,
    ),
    referenceTestSetMinutes: round(
      (referenceSecondsPerImage * TEST_IMAGES) / 60,
    ),
    speedupOverReference: round(referenceSecondsPerImage / fastSecondsPerImage),
    pytorchSecondsPerImage: PYTORCH_SECONDS_PER_IMAGE,
    speedupOverPytorch: round(PYTORCH_SECONDS_PER_IMAGE / fastSecondsPerImage),
    pairsUnchanged: pairs.unchanged,
    pairsCertified: pairs.certified,
    pairsUpdated: pairs.updated,
    pairsPlain: pairs.plain,
  };
}

/** Loads BENCH_ADS_MODEL, or the cached bench network, or trains and caches one. */
async function benchNetwork(): Promise<{
  network: FFNetwork;
  source: string;
}> {
  const folder = process.env.BENCH_ADS_MODEL ?? CACHED_MODEL;
  if (existsSync(path.join(folder, "model.json"))) {
    return { network: (await loadModel(folder)).network, source: folder };
  }
  if (process.env.BENCH_ADS_MODEL !== undefined) {
    throw new Error(
      `BENCH_ADS_MODEL=${folder} has no model.json; pass a model folder written by \`ff train\``,
    );
  }

  // The default preset's network and hard negatives, trained for 3 epochs on 20,000 images
  // with mini-batches of 50 and Adam 0.03: about 93% test accuracy in two minutes on 2 cores.
  process.stderr.write(`training the bench network into ${folder}\n`);
  const recipe = presetRecipe("default");
  recipe.training = {
    ...recipe.training,
    epochs: 3,
    batchSize: 50,
    learningRate: 0.03,
    learningRateDecay: 1,
    trainCount: 20_000,
  };
  const train = await loadDataset("mnist", "train");
  const result = await trainFF({
    recipe,
    train: {
      images: train.images,
      labels: train.labels,
      count: train.count,
      pixels: train.rows * train.cols,
    },
  });
  await saveModel(folder, result.network, {
    kind: "ff",
    recipe: {
      ...recipe.settings,
      name: "bench",
      negatives: recipe.training.negatives,
      schedule: recipe.training.schedule,
    },
    training: {
      ...recipe.training,
      backend: "wasm",
      wallTimeMs: result.wallTimeMs,
      stopped: result.stopped,
    },
    dataset: {
      name: "mnist",
      imageShape: [28, 28],
      classNames: [...train.classNames],
    },
    metrics: { trainAccuracy: null, testAccuracy: null },
    lossHistory: { unit: "epoch", layers: result.lossHistory },
  });
  return { network: result.network, source: `trained into ${folder}` };
}

async function timeRun(
  network: FFNetwork,
  images: LabelledImages,
  method: "fast" | "reference",
  threads: number,
): Promise<{ seconds: number; cpuSeconds: number; result: AdsResult }> {
  process.stderr.write(
    `${method} path on ${images.count} images, ${threads} thread(s)\n`,
  );
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const result = await runAds({
    network,
    images,
    options: {
      windowSize: 3,
      stride: 1,
      method,
      threads,
      samples: { indices: [] },
    },
  });
  const seconds = (performance.now() - started) / 1000;
  // The CPU time of the whole process, worker threads included.
  const cpu = process.cpuUsage(cpuStart);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, result };
}

function firstImages(all: LabelledImages, count: number): LabelledImages {
  return {
    images: all.images.subarray(0, count * all.pixels),
    labels: all.labels.subarray(0, count),
    count,
    pixels: all.pixels,
  };
}

/** Returns the 1, 5 and 15 minute load averages, which show how busy the shared cores were. */
function loadAverage(): string {
  return os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(", ");
}

function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const figures = await benchAds();
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
