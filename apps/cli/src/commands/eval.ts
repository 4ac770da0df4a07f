import path from "node:path";

import { DATASET_NAMES, type DatasetName, type Split } from "@ffads/datasets";
import { evaluateAccuracy, loadModel } from "@ffads/ff-core";

import { selectBackend, type BackendChoice } from "../backend.ts";
import {
  checkDataDir,
  describeBackend,
  firstImages,
  loadSplit,
} from "../common.ts";
import { UsageError } from "../errors.ts";
import type { Streams } from "../main.ts";
import { formatDuration, ProgressBar } from "../progress.ts";

export interface EvalFlags {
  model: string;
  dataset?: DatasetName;
  split: Split;
  limit?: number;
  backend: BackendChoice;
  dataDir: string | undefined;
  download: boolean;
  verifyChecksums: boolean;
}

export interface EvalSummary {
  model: string;
  dataset: string;
  split: Split;
  imageCount: number;
  accuracy: number;
  backend: string;
  wallTimeMs: number;
}

/** `ff eval`: the accuracy of a saved model on a split. */
export async function runEval(
  flags: EvalFlags,
  streams: Streams,
): Promise<EvalSummary> {
  const started = performance.now();
  checkDataDir(flags.dataDir);
  const progress = new ProgressBar(
    "eval",
    streams.stderr,
    streams.interactive ?? false,
  );
  const backend = await selectBackend(flags.backend);
  progress.log(describeBackend(backend));
  const directory = path.resolve(flags.model);
  const { network, model } = await loadModel(directory);
  try {
    const dataset = flags.dataset ?? model.dataset.name;
    if (!(DATASET_NAMES as readonly string[]).includes(dataset)) {
      throw new UsageError(
        `${directory} was trained on "${dataset}"; pass --dataset ${DATASET_NAMES.join(" or ")}`,
      );
    }
    const set = await loadSplit(
      dataset as DatasetName,
      flags.split,
      flags,
      (line) => progress.log(line),
    );
    const images = firstImages(set, flags.limit);
    if (images.pixels !== network.inputSize) {
      throw new UsageError(
        `the model takes ${network.inputSize} pixels but ${dataset} images have ${images.pixels}`,
      );
    }
    const accuracy = evaluateAccuracy(network, images);
    return {
      model: directory,
      dataset,
      split: flags.split,
      imageCount: images.count,
      accuracy,
      backend: backend.name,
      wallTimeMs: performance.now() - started,
    };
  } finally {
    network.dispose();
  }
}

export function formatEvalSummary(summary: EvalSummary): string {
  return [
    `model:     ${summary.model}`,
    `accuracy:  ${(summary.accuracy * 100).toFixed(2)}% on ${summary.imageCount} ${summary.dataset} ${summary.split} images`,
    `wall time: ${formatDuration(summary.wallTimeMs)} (${summary.backend} backend)`,
  ].join("\n");
}
