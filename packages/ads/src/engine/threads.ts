/**
 * Runs the clean and windows stages of an FF network on worker threads, one contiguous shard of
 * the images each. A window's accuracy is a count of correct predictions, so adding the shards'
 * integer counts gives the same maps as one thread, provided each image gets the same prediction.
 * It does, because the workers compute on the same backend and a classifier scores each row
 * independently of the batch around it (classifier.ts).
 */
import { Worker } from "node:worker_threads";

import * as tf from "@tensorflow/tfjs-core";
import {
  currentWorkerBackend,
  WORKER_BACKENDS,
  workerSource,
  type FFNetwork,
} from "@ffads/ff-core";

import type { AdsStage } from "../events.ts";
import type { EngineContext } from "./context.ts";
import type { AdsWorkerInit, AdsWorkerReport } from "./thread-worker.ts";

/** The module each worker runs; tests substitute their own. */
export const ADS_WORKER_MODULE = new URL("./thread-worker.ts", import.meta.url);

/**
 * Returns why a run with `threads` threads must stay on the calling thread, or null when its
 * images can be split between worker threads.
 */
export function threadsUnavailableReason(
  network: FFNetwork | null,
  threads: number,
  imageCount: number,
): string | null {
  if (threads < 2) return "one thread was requested";
  if (network === null)
    return "only an FF network can be rebuilt in a worker thread";
  const backend = tf.getBackend();
  if (!(backend in WORKER_BACKENDS))
    return `the ${backend} backend cannot be loaded in a worker thread`;
  if (imageCount < 2) return "one image cannot be split between threads";
  return null;
}

/** The half-open range [start, end) of image positions of one shard. */
export interface Shard {
  start: number;
  end: number;
}

/** Splits `count` images into `shardCount` contiguous shards whose sizes differ by at most 1. */
export function splitShards(count: number, shardCount: number): Shard[] {
  const shards: Shard[] = [];
  for (let index = 0; index < shardCount; index++) {
    shards.push({
      start: Math.floor((index * count) / shardCount),
      end: Math.floor(((index + 1) * count) / shardCount),
    });
  }
  return shards;
}

/** Settings and callbacks of one `occludeOnThreads` call. */
export interface ThreadedRun {
  threads: number;
  /** Receives the progress of all workers together, stage by stage in order. */
  onProgress: (stage: AdsStage, completed: number, total: number) => void;
  /** When aborted, the workers are terminated and the run rejects with the signal's reason. */
  signal?: AbortSignal;
  workerModule: URL;
}

/**
 * Computes the clean predictions of every image and adds the occluded predictions of every
 * (image, window) pair to `context.tally` and `context.pairs`, on `run.threads` worker threads.
 * Each worker gets a copy of the network's weights and of its shard of the images. Every worker
 * is terminated before this function returns or rejects.
 *
 * @throws Error naming the worker and its images when a worker fails or exits early
 */
export async function occludeOnThreads(
  context: EngineContext,
  network: FFNetwork,
  run: ThreadedRun,
): Promise<Int32Array> {
  const { count, pixels, grid } = context;
  const shards = splitShards(count, run.threads);
  const backend = await currentWorkerBackend();
  const weights = network.toArrays();
  const source = workerSource(run.workerModule, "runAdsWorker");
  const cleanPredictions = new Int32Array(count);
  const cleanCompleted = shards.map(() => 0);
  const windowsCompleted = shards.map(() => 0);
  const windowsTotal = grid.windows.length * count;
  let cleanShards = 0;
  const tallied = shards.map(() => false);
  let finished = false;
  const workers: Worker[] = [];
  let rejectRun: (reason: unknown) => void = () => {};
  const onAbort = (): void => rejectRun(run.signal!.reason);

  const handleReport = (index: number, report: AdsWorkerReport): boolean => {
    const shard = shards[index]!;
    switch (report.type) {
      case "progress":
        if (report.stage === "clean") {
          cleanCompleted[index] = report.completed;
          run.onProgress("clean", sum(cleanCompleted), count);
        } else {
          windowsCompleted[index] = report.completed;
          // Windows progress waits until every shard is past the clean stage, so that the
          // stages reach the caller in order.
          if (cleanShards === shards.length)
            run.onProgress("windows", sum(windowsCompleted), windowsTotal);
        }
        return false;
      case "clean":
        cleanPredictions.set(report.predictions, shard.start);
        cleanShards += 1;
        return false;
      case "tally":
        addCounts(context.tally.windowCorrect, report.windowCorrect);
        addCounts(context.tally.classWindowCorrect, report.classWindowCorrect);
        context.pairs.unchanged += report.pairs.unchanged;
        context.pairs.certified += report.pairs.certified;
        context.pairs.updated += report.pairs.updated;
        context.pairs.plain += report.pairs.plain;
        tallied[index] = true;
        if (!tallied.every(Boolean)) return false;
        run.onProgress("windows", windowsTotal, windowsTotal);
        return true;
    }
  };

  try {
    await new Promise<void>((resolve, reject) => {
      rejectRun = reject;
      run.signal?.addEventListener("abort", onAbort, { once: true });
      if (run.signal?.aborted) onAbort();
      shards.forEach((shard, index) => {
        const name = `ADS worker ${index} (images ${shard.start} to ${shard.end - 1})`;
        const init: AdsWorkerInit = {
          backend,
          architecture: network.architecture,
          settings: network.settings,
          weights,
          images: context.images.slice(
            shard.start * pixels,
            shard.end * pixels,
          ),
          labels: context.labels.slice(shard.start, shard.end),
          count: shard.end - shard.start,
          pixels,
          baseline: context.baseline,
          options: context.options,
        };
        const worker = new Worker(source, {
          eval: true,
          workerData: init,
          name: `ads-worker-${index}`,
        });
        workers.push(worker);
        worker.on("message", (report: AdsWorkerReport) => {
          // A listener of the caller may throw here; the run then rejects with its error.
          try {
            if (handleReport(index, report)) resolve();
          } catch (error) {
            reject(error);
          }
        });
        const fail = (error: Error): void =>
          reject(
            new Error(`${name} failed: ${error.message}`, { cause: error }),
          );
        worker.on("error", fail);
        worker.on("messageerror", fail);
        // Node delivers a worker's pending messages before its exit event, so a worker that
        // exits after sending its counts is marked as tallied by then.
        worker.on("exit", (code) => {
          if (!finished && !tallied[index])
            reject(
              new Error(
                `${name} exited with code ${code} before it sent its counts`,
              ),
            );
        });
      });
    });
  } finally {
    finished = true;
    run.signal?.removeEventListener("abort", onAbort);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return cleanPredictions;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function addCounts(target: Int32Array, counts: Int32Array): void {
  for (let i = 0; i < target.length; i++) target[i]! += counts[i]!;
}
