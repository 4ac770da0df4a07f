import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import {
  runAds,
  writeFigures,
  writeSaliencyFolder,
  type AdsEvent,
  type AdsResult,
  type BaselineOption,
} from "@ffads/ads";
import { DATASET_NAMES, type DatasetName, type Split } from "@ffads/datasets";
import { loadModel, type LabelledImages } from "@ffads/ff-core";

import { selectBackend, type BackendChoice } from "../backend.ts";
import {
  checkDataDir,
  checkOutputFolder,
  describeBackend,
  loadSplit,
} from "../common.ts";
import { InterruptedError, UsageError } from "../errors.ts";
import type { Streams } from "../main.ts";
import { formatDuration, ProgressBar } from "../progress.ts";

export interface AdsFlags {
  model: string;
  dataset?: DatasetName;
  split: Split;
  window: number;
  stride: number;
  baseline: string;
  limit?: number;
  classes?: string;
  method: "fast" | "reference";
  batchSize?: number;
  threads?: number;
  top: number;
  out?: string;
  overwrite: boolean;
  backend: BackendChoice;
  dataDir: string | undefined;
  download: boolean;
  verifyChecksums: boolean;
}

/** One window of the largest accuracy drops. */
export interface WindowDrop {
  /** Pixel row and column of the window centre. */
  row: number;
  col: number;
  /** Clean accuracy minus occluded accuracy, in percentage points. */
  dropPoints: number;
  occludedAccuracy: number;
}

export interface AdsSummary {
  saliency: string;
  model: string;
  dataset: string;
  split: Split;
  imageCount: number;
  window: number;
  stride: number;
  baseline: string;
  method: "fast" | "reference";
  backend: string;
  cleanAccuracy: number;
  largestDrops: WindowDrop[];
  windowCount: number;
  /** Window positions finished per second, each over all N images. */
  windowsPerSecond: number;
  /** Occluded images (image, window pairs) scored per second. */
  occludedImagesPerSecond: number;
  imagesPerSecond: number;
  wallTimeMs: number;
  figures: string[];
}

/** Parses `--baseline`: `zero`, `mean` or a number in [0, 1]. */
export function parseBaseline(text: string): BaselineOption {
  if (text === "zero") return { kind: "zero" };
  if (text === "mean") return { kind: "mean" };
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new UsageError(
      `--baseline "${text}" is invalid; use zero, mean, or a pixel value between 0 and 1`,
    );
  }
  return { kind: "constant", value };
}

/** `ff ads`: measures ADS maps of a saved model and writes the saliency folder with figures. */
export async function runAdsCommand(
  flags: AdsFlags,
  signal: AbortSignal,
  streams: Streams,
): Promise<AdsSummary> {
  const started = performance.now();
  const modelDir = path.resolve(flags.model);
  const out = path.resolve(
    flags.out ?? path.join(path.dirname(modelDir), "saliency"),
  );
  checkOutputFolder(out, {
    marker: "manifest.json",
    resultName: "saliency folder",
    overwrite: flags.overwrite,
    replacesFolder: true,
  });
  checkDataDir(flags.dataDir);
  const baseline = parseBaseline(flags.baseline);
  const classes =
    flags.classes === undefined ? null : parseClasses(flags.classes);

  const progress = new ProgressBar(
    "ads",
    streams.stderr,
    streams.interactive ?? false,
  );
  const backend = await selectBackend(flags.backend);
  progress.log(describeBackend(backend));
  const { network, model } = await loadModel(modelDir);
  try {
    const dataset = flags.dataset ?? model.dataset.name;
    if (!(DATASET_NAMES as readonly string[]).includes(dataset)) {
      throw new UsageError(
        `${modelDir} was trained on "${dataset}"; pass --dataset ${DATASET_NAMES.join(" or ")}`,
      );
    }
    const set = await loadSplit(
      dataset as DatasetName,
      flags.split,
      flags,
      (line) => progress.log(line),
    );
    const { images, indices } = selectImages(set, classes, flags.limit);
    if (images.count === 0) {
      throw new UsageError(
        `no ${dataset} ${flags.split} images match --classes ${flags.classes}`,
      );
    }
    if (images.pixels !== network.inputSize) {
      throw new UsageError(
        `the model takes ${network.inputSize} pixels but ${dataset} images have ${images.pixels}`,
      );
    }
    progress.log(
      `ADS on ${images.count} ${dataset} ${flags.split} images: ${flags.window}x${flags.window} window, ` +
        `stride ${flags.stride}, baseline ${flags.baseline}, ${flags.method} path`,
    );

    let result: AdsResult;
    try {
      result = await runAds({
        network,
        images,
        imageIndices: indices,
        classNames: [...set.classNames],
        options: {
          windowSize: flags.window,
          stride: flags.stride,
          baseline,
          method: flags.method,
          ...(flags.batchSize === undefined
            ? {}
            : { batchSize: flags.batchSize }),
          threads: flags.threads ?? defaultThreads(),
        },
        onEvent: (event) => renderAdsEvent(event, progress),
        signal,
      });
    } catch (error) {
      if (signal.aborted)
        throw new InterruptedError(
          `ADS interrupted; nothing was written to ${out}`,
        );
      throw error;
    }
    progress.finish();

    // Everything is written into a staging folder beside `out`, which then replaces `out`, so a
    // failure or interrupt never leaves new figures next to an old manifest.
    const staging = `${out}.partial-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    const figures = await writeFigures(staging, result);
    await writeSaliencyFolder(staging, result, {
      model: {
        path: path.relative(out, modelDir) || ".",
        kind: "ff",
        layerSizes: network.architecture.layerSizes,
        recipe: model.recipe.name,
        testAccuracy: model.metrics?.testAccuracy ?? null,
      },
      dataset,
      split: flags.split,
      classes:
        classes ?? Array.from({ length: set.classNames.length }, (_, i) => i),
      figures,
    });
    if (signal.aborted) {
      await rm(staging, { recursive: true, force: true });
      throw new InterruptedError(
        `ADS interrupted; nothing was written to ${out}`,
      );
    }
    await replaceFolder(staging, out);

    const windowCount = result.gridShape[0] * result.gridShape[1];
    const seconds = result.wallTimeMs / 1000;
    return {
      saliency: out,
      model: modelDir,
      dataset,
      split: flags.split,
      imageCount: result.imageCount,
      window: flags.window,
      stride: flags.stride,
      baseline: flags.baseline,
      method: flags.method,
      backend: backend.name,
      cleanAccuracy: result.cleanAccuracy,
      largestDrops: largestDrops(result, flags.top),
      windowCount,
      windowsPerSecond: windowCount / seconds,
      occludedImagesPerSecond: (windowCount * result.imageCount) / seconds,
      imagesPerSecond: result.imageCount / seconds,
      wallTimeMs: performance.now() - started,
      figures: figures.map((figure) => path.join(out, figure.file)),
    };
  } finally {
    network.dispose();
  }
}

export function formatAdsSummary(summary: AdsSummary): string {
  const drops = summary.largestDrops.map((drop) => {
    // Rounded first, so that a tiny negative drop prints as +0.00, not -0.00.
    const points = Math.round(drop.dropPoints * 100) / 100 || 0;
    return (
      `  (${String(drop.row).padStart(2)}, ${String(drop.col).padStart(2)})  ` +
      `${points >= 0 ? "+" : ""}${points.toFixed(2)} points ` +
      `(occluded accuracy ${(drop.occludedAccuracy * 100).toFixed(2)}%)`
    );
  });
  return [
    `saliency folder: ${summary.saliency}`,
    `clean accuracy:  ${(summary.cleanAccuracy * 100).toFixed(2)}% on ${summary.imageCount} ${summary.dataset} ${summary.split} images`,
    `largest drops (window centre row, column):`,
    ...drops,
    `wall time:       ${formatDuration(summary.wallTimeMs)}, ${summary.windowsPerSecond.toFixed(1)} windows/s ` +
      `over all ${summary.imageCount} images, ${Math.round(summary.occludedImagesPerSecond)} occluded images/s ` +
      `(${summary.imagesPerSecond.toFixed(1)} images/s, ${summary.method} path, ${summary.backend} backend)`,
  ].join("\n");
}

/** Returns the windows with the largest accuracy drops, largest first. */
export function largestDrops(result: AdsResult, count: number): WindowDrop[] {
  const [rows, cols] = result.gridShape;
  const drops: WindowDrop[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const occluded = result.occludedAccuracy[i * cols + j]!;
      drops.push({
        row: i * result.stride,
        col: j * result.stride,
        dropPoints: (result.cleanAccuracy - occluded) * 100,
        occludedAccuracy: occluded,
      });
    }
  }
  drops.sort(
    (a, b) => b.dropPoints - a.dropPoints || a.row - b.row || a.col - b.col,
  );
  return drops.slice(0, count);
}

/** Parses `--classes`, labels 0..9 separated by commas, e.g. `3,5,8`. */
export function parseClasses(text: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  const labels = parts.map((part) =>
    /^\d+$/.test(part) ? Number(part) : Number.NaN,
  );
  if (labels.some((label) => !(label >= 0 && label <= 9))) {
    throw new UsageError(
      `--classes "${text}" is invalid; give labels from 0 to 9 separated by commas, e.g. 3,5,8`,
    );
  }
  return [...new Set(labels)].sort((a, b) => a - b);
}

/** Selects the images of the chosen classes, then the first `limit` of them, with their split indices. */
function selectImages(
  set: {
    images: Uint8Array;
    labels: Uint8Array;
    count: number;
    rows: number;
    cols: number;
  },
  classes: number[] | null,
  limit: number | undefined,
): { images: LabelledImages; indices: number[] } {
  const pixels = set.rows * set.cols;
  const indices: number[] = [];
  for (
    let i = 0;
    i < set.count && (limit === undefined || indices.length < limit);
    i++
  ) {
    if (classes === null || classes.includes(set.labels[i]!)) indices.push(i);
  }
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  indices.forEach((index, i) => {
    images.set(
      set.images.subarray(index * pixels, (index + 1) * pixels),
      i * pixels,
    );
    labels[i] = set.labels[index]!;
  });
  return { images: { images, labels, count: indices.length, pixels }, indices };
}

/**
 * Threads when --threads is not given: 2 where at least 2 cores are available. The images are
 * split between that many worker threads.
 */
function defaultThreads(): number {
  return Math.min(2, os.availableParallelism());
}

function renderAdsEvent(event: AdsEvent, progress: ProgressBar): void {
  if (event.type === "start") {
    loggedTenths.clear();
    progress.log(
      `${event.windowCount} windows x ${event.imageCount} images = ${event.totalPairs} occluded images` +
        (event.threads > 1 ? ` on ${event.threads} threads` : ""),
    );
  } else if (event.type === "progress") {
    progress.update(event.completed, event.total, event.stage);
    if (!progress.isInteractive)
      logTenths(event.stage, event.completed, event.total, progress);
  } else if (event.type === "end" && !event.stopped) {
    const pairs = event.pairs;
    progress.log(
      `settled ${pairs.total} pairs: ${pairs.unchanged} unchanged, ${pairs.certified} certified, ` +
        `${pairs.updated} by the first-layer update, ${pairs.plain} by the plain network`,
    );
  }
}

/** Moves `staging` to `target`, replacing an earlier folder there only once the new one is whole. */
async function replaceFolder(staging: string, target: string): Promise<void> {
  if (!existsSync(target)) {
    await rename(staging, target);
    return;
  }
  const previous = `${target}.previous-${process.pid}`;
  await rm(previous, { recursive: true, force: true });
  await rename(target, previous);
  await rename(staging, target);
  await rm(previous, { recursive: true, force: true });
}

const loggedTenths = new Map<string, number>();

/** Without a terminal, logs a stage's progress at every tenth, so a log file shows it moving. */
function logTenths(
  stage: string,
  completed: number,
  total: number,
  progress: ProgressBar,
): void {
  const tenth = total === 0 ? 10 : Math.floor((completed / total) * 10);
  if (tenth <= (loggedTenths.get(stage) ?? -1)) return;
  loggedTenths.set(stage, tenth);
  progress.log(`${stage}: ${completed}/${total} (${tenth * 10}%)`);
}
