/**
 * The worker side of a run on several threads: occludes one shard of the images with the same
 * engine as the calling thread and returns the clean predictions and the counts of correct
 * predictions to the main thread (threads.ts).
 */
import { parentPort, workerData } from "node:worker_threads";

import {
  FFNetwork,
  startWorkerBackend,
  type FFArchitecture,
  type FFSettings,
  type LayerArrays,
  type WorkerBackend,
} from "@ffads/ff-core";

import { ffClassifier } from "../classifier.ts";
import type { AdsPairCounts } from "../events.ts";
import type { ResolvedOptions } from "../options.ts";
import { windowGrid } from "../windows.ts";
import type { EngineContext } from "./context.ts";
import { cleanPredictionsFast, occludeWindowsFast } from "./fast-ff.ts";
import { cleanScoresPlain, occludeWindowsPlain } from "./generic.ts";
import { OcclusionTally } from "./tally.ts";

/** Everything a worker needs, sent as its `workerData`. */
export interface AdsWorkerInit {
  /** The main thread's backend, so that every worker computes with the same kernels. */
  backend: WorkerBackend;
  architecture: FFArchitecture;
  settings: FFSettings;
  weights: LayerArrays[];
  /** The shard's raw images as bytes, [count, pixels] row-major, and their labels. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  pixels: number;
  /** The baseline of the whole run, computed on the main thread from every image. */
  baseline: Float32Array;
  options: ResolvedOptions;
}

/** Messages a worker sends to the main thread, in this order: progress, clean, progress, tally. */
export type AdsWorkerReport =
  | {
      type: "progress";
      stage: "clean" | "windows";
      /** Images of the shard for `clean`, (image, window) pairs of the shard for `windows`. */
      completed: number;
    }
  | { type: "clean"; predictions: Int32Array }
  | {
      type: "tally";
      /** `OcclusionTally.windowCorrect` of the shard. */
      windowCorrect: Int32Array;
      /** `OcclusionTally.classWindowCorrect` of the shard. */
      classWindowCorrect: Int32Array;
      pairs: AdsPairCounts;
    };

/**
 * Occludes the shard that `workerData` describes in this worker thread. Errors stay uncaught, so
 * the main thread receives them as the worker's `error` event.
 */
export async function runAdsWorker(): Promise<void> {
  const init = workerData as AdsWorkerInit;
  const port = parentPort!;
  const send = (report: AdsWorkerReport): void => port.postMessage(report);
  await startWorkerBackend(init.backend);
  const network = FFNetwork.fromArrays(
    init.architecture,
    init.settings,
    init.weights,
  );
  try {
    const classifier = ffClassifier(network);
    const { options } = init;
    const grid = windowGrid(
      options.imageShape,
      options.windowSize,
      options.stride,
      classifier.protectedPixels ?? 0,
    );
    const pairs: AdsPairCounts = {
      total: grid.windows.length * init.count,
      unchanged: 0,
      certified: 0,
      updated: 0,
      plain: 0,
    };
    const context: EngineContext = {
      classifier,
      images: init.images,
      labels: init.labels,
      count: init.count,
      pixels: init.pixels,
      grid,
      baseline: init.baseline,
      options,
      tally: new OcclusionTally(grid.windows.length, classifier.classCount),
      pairs,
      progress: async (stage, completed) => {
        if (stage !== "samples") send({ type: "progress", stage, completed });
      },
    };

    // The same calls as runAds on one thread, except that the samples stay on the main thread.
    let predictions: Int32Array;
    if (options.method === "fast") {
      predictions = await cleanPredictionsFast(context, network);
    } else {
      predictions = (await cleanScoresPlain(context)).predictions;
    }
    send({ type: "clean", predictions });
    if (options.method === "fast") {
      await occludeWindowsFast(context, network, predictions);
    } else {
      await occludeWindowsPlain(context, predictions, {
        skipUnchanged: false,
        samples: null,
      });
    }
    send({
      type: "tally",
      windowCorrect: context.tally.windowCorrect,
      classWindowCorrect: context.tally.classWindowCorrect,
      pairs,
    });
  } finally {
    network.dispose();
  }
}
