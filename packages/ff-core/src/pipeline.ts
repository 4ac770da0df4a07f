import { MessageChannel, Worker } from "node:worker_threads";

import * as tf from "@tensorflow/tfjs-core";
import createDebug from "debug";

import { NUM_CLASSES } from "./config.ts";
import type { LabelledImages } from "./data.ts";
import type { TrainEventListener } from "./events.ts";
import type { FFNetwork } from "./network.ts";
import type { StageInit, StageReport, StepMessage } from "./pipeline-stage.ts";
import { startRun, type BatchSampler } from "./sampling.ts";
import type { TrainOptions, TrainResult } from "./train.ts";
import {
  currentWorkerBackend,
  WORKER_BACKENDS,
  workerSource,
} from "./worker-threads.ts";

const log = createDebug("ffads:ff-core:pipeline");

/** The module each worker runs; tests substitute their own. */
export const STAGE_MODULE = new URL("./pipeline-stage.ts", import.meta.url);

/**
 * Returns why training with `threads` threads must run on one thread instead, or null when the
 * joint schedule can be split into a pipeline of stages.
 */
export function pipelineUnavailableReason(
  options: TrainOptions,
  threads: number,
): string | null {
  if (threads < 2) return "one thread was requested";
  // NOTE: the sequential schedule could use a second thread exactly while a layer above the first
  // trains with resampled or hard negatives: the frozen layers below could compute step t + 1's
  // input while that layer trains on step t. Splitting a full batch across threads and summing
  // their gradients would not be exact, because it changes the order of the sums in each product.
  if (options.recipe.training.schedule !== "joint")
    return "only the joint schedule is pipelined";
  if (options.recipe.architecture.layerSizes.length < 3)
    return "a network of one layer has nothing to pipeline";
  const backend = tf.getBackend();
  if (!(backend in WORKER_BACKENDS))
    return `the ${backend} backend cannot be loaded in a worker thread`;
  return null;
}

/**
 * Multiply-adds of a matMul that cost as much as one elementwise operation on one element. It was
 * 35 to 48 on the wasm backend (tfjs 4.22, Node 20, 2-core x86-64), timing tf.add, tf.mul and
 * tf.sqrt on [784, 500] against a [100, 774] x [774, 500] matMul. The value is a rounded estimate
 * and only guides how layers are grouped into stages.
 */
const ELEMENTWISE_COST = 40;

/**
 * Estimates the work of one training step of a layer in matMul multiply-adds. The elementwise
 * passes are counted from the code of `LayerSteps` and `AdamOptimizer`. Adam makes 13 per
 * parameter. The activity of the 2 * batch rows takes about 14 per value in the first layer and 6
 * in the others. Hard negatives take 6 per value of their [batch, 10, units] goodness, and the
 * normalisation and transposes of the layer input add a few more.
 */
export function layerStepCost(
  layerSizes: number[],
  index: number,
  batchSize: number,
  hardNegatives: boolean,
): number {
  const inputs = layerSizes[index]!;
  const units = layerSizes[index + 1]!;
  const adamPasses = 13 * (inputs * units + units);
  if (index === 0) {
    const pixels = inputs - NUM_CLASSES;
    const multiplyAdds = 2 * batchSize * pixels * units;
    const passes =
      adamPasses +
      14 * 2 * batchSize * units +
      (hardNegatives ? 6 * NUM_CLASSES * batchSize * units : 0) +
      2 * batchSize * inputs;
    return multiplyAdds + ELEMENTWISE_COST * passes;
  }
  const multiplyAdds = 4 * batchSize * inputs * units;
  const passes =
    adamPasses + 6 * 2 * batchSize * units + 4 * 2 * batchSize * inputs;
  return multiplyAdds + ELEMENTWISE_COST * passes;
}

/**
 * Splits the layers into `stageCount` runs of consecutive layers (fewer when there are fewer
 * layers) so that the costliest run, by `layerStepCost`, is as cheap as possible.
 */
export function partitionLayers(
  layerSizes: number[],
  stageCount: number,
  batchSize: number,
  hardNegatives: boolean,
): number[][] {
  const costs = layerSizes
    .slice(1)
    .map((_, i) => layerStepCost(layerSizes, i, batchSize, hardNegatives));
  const n = costs.length;
  const stages = Math.min(stageCount, n);
  const costOf = (from: number, to: number): number =>
    costs.slice(from, to).reduce((sum, cost) => sum + cost, 0);

  // best[s][i]: the lowest maximum stage cost that puts layers 0..i-1 into s stages, where the
  // last of them starts at layer cut[s][i].
  const best = Array.from({ length: stages + 1 }, () =>
    new Array<number>(n + 1).fill(Infinity),
  );
  const cut = Array.from({ length: stages + 1 }, () =>
    new Array<number>(n + 1).fill(0),
  );
  best[0]![0] = 0;

  for (let s = 1; s <= stages; s++) {
    for (let i = s; i <= n; i++) {
      for (let j = s - 1; j < i; j++) {
        const cost = Math.max(best[s - 1]![j]!, costOf(j, i));
        if (cost < best[s]![i]!) {
          best[s]![i] = cost;
          cut[s]![i] = j;
        }
      }
    }
  }

  const groups: number[][] = [];
  for (let s = stages, end = n; s > 0; s--) {
    const start = cut[s]![end]!;
    groups.unshift(Array.from({ length: end - start }, (_, k) => start + k));
    end = start;
  }
  return groups;
}

/**
 * Trains with the joint schedule as a pipeline over worker threads, one per stage of consecutive
 * layers: while the stage of layer 0 runs step t + 1, the next stage runs step t on the activity
 * that layer 0 computed in step t, before that step's update. Layer 0's step t + 1 reads no
 * higher layer (hard negatives come from layer 0 alone), and a layer's step t reads only the
 * step-t activity below it. So each stage runs the same tensor operations on the same values as
 * `Trainer` on one thread, and the weights and loss history are bit-for-bit the same on the same
 * backend. The tests check this on cpu and wasm. The main thread draws every batch from the
 * seeded generator, in the same order as `Trainer`.
 */
export async function trainPipelined(
  options: TrainOptions,
  threads: number,
  stageModule: URL = STAGE_MODULE,
): Promise<TrainResult> {
  const { recipe } = options;
  const { network, sampler } = startRun(options);
  const started = performance.now();
  const groups = partitionLayers(
    recipe.architecture.layerSizes,
    threads,
    sampler.batchSize,
    recipe.training.negatives === "hard",
  );
  log("stages %o", groups);
  const pipeline = await Pipeline.start(
    options,
    network,
    sampler,
    groups,
    stageModule,
  );
  try {
    return await pipeline.run(started);
  } finally {
    await pipeline.terminate();
  }
}

/** The worker threads of one run and the messages they send to the main thread. */
class Pipeline {
  private readonly reports: { stage: number; report: StageReport }[] = [];
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private finished = false;

  private constructor(
    private readonly options: TrainOptions,
    private readonly network: FFNetwork,
    private readonly sampler: BatchSampler,
    private readonly groups: number[][],
    private readonly workers: Worker[],
  ) {
    workers.forEach((worker, stage) => {
      worker.on("message", (report: StageReport) => {
        this.reports.push({ stage, report });
        this.notify();
      });
      worker.on("error", (error) => this.fail(stage, error));
      worker.on("messageerror", (error) => this.fail(stage, error));
      worker.on("exit", (code) => {
        if (!this.finished)
          this.fail(stage, new Error(`the worker exited with code ${code}`));
      });
    });
  }

  /** Starts one worker per group of layers, connected in order, and waits until all are ready. */
  static async start(
    options: TrainOptions,
    network: FFNetwork,
    sampler: BatchSampler,
    groups: number[][],
    stageModule: URL,
  ): Promise<Pipeline> {
    const inits = await stageInits(options, network, sampler, groups);
    const source = workerSource(stageModule, "runStage");
    const workers: Worker[] = [];
    try {
      for (const init of inits) {
        const ports = [init.upstream, init.downstream].filter(
          (port) => port !== null,
        );
        workers.push(
          new Worker(source, {
            eval: true,
            workerData: init,
            transferList: ports,
            name: `ff-pipeline-stage-${init.index}`,
          }),
        );
      }
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }

    const pipeline = new Pipeline(options, network, sampler, groups, workers);
    try {
      for (let ready = 0; ready < workers.length; ready++)
        await pipeline.nextReport("ready");
    } catch (error) {
      await pipeline.terminate();
      throw error;
    }
    return pipeline;
  }

  /** Runs every step, emitting the same events as `Trainer.run`, and copies back the weights. */
  async run(started: number): Promise<TrainResult> {
    const training = this.options.recipe.training;
    const layerCount = this.network.layers.length;
    const stepsPerEpoch = this.sampler.stepsPerEpoch;
    const totalSteps = training.epochs * stepsPerEpoch;
    const inFlight = maxStepsInFlight(this.groups.length);
    this.emit({
      type: "start",
      layerCount,
      totalSteps,
      epochs: training.epochs,
      stepsPerEpoch,
      schedule: training.schedule,
      threads: this.groups.length,
    });

    const lossHistory: number[][] = this.network.layers.map(() => []);
    const steps = this.stepMessages(training.epochs);
    let sent = 0;
    let done = 0;
    let stopped = this.options.signal?.aborted ?? false;
    let epochStarted = performance.now();
    while (!stopped && done < totalSteps) {
      while (sent < totalSteps && sent - done < inFlight) {
        const message = steps.next().value as StepMessage;
        this.workers[0]!.postMessage(message, transfers(message));
        sent += 1;
      }
      const report = await this.nextReport("done");
      done = report.step;
      const epoch = Math.ceil(done / stepsPerEpoch);
      this.emit({
        type: "step",
        completedSteps: done,
        totalSteps,
        layer: null,
        epoch,
      });
      if (done % stepsPerEpoch === 0) {
        const loss = report.lossSums.map((sum) => sum / stepsPerEpoch);
        loss.forEach((value, layer) => lossHistory[layer]!.push(value));
        const epochMs = performance.now() - epochStarted;
        log("epoch %d loss %o in %d ms", epoch, loss, Math.round(epochMs));
        this.emit({
          type: "epoch",
          layer: null,
          epoch,
          epochs: training.epochs,
          loss,
          epochMs,
          completedSteps: done,
          totalSteps,
        });
        epochStarted = performance.now();
      }
      if (done < totalSteps && this.options.signal?.aborted) stopped = true;
    }

    await this.copyWeightsAfter(done);
    const wallTimeMs = performance.now() - started;
    this.emit({ type: "end", wallTimeMs, stopped });
    return { network: this.network, lossHistory, wallTimeMs, stopped };
  }

  async terminate(): Promise<void> {
    this.finished = true;
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  /** Yields the step messages of every epoch, drawing batches in the order `Trainer` does. */
  private *stepMessages(epochs: number): Generator<StepMessage> {
    let step = 0;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      let inEpoch = 0;
      for (const batch of this.sampler.epoch()) {
        step += 1;
        inEpoch += 1;
        yield {
          type: "step",
          step,
          epoch,
          epochEnd: inEpoch === this.sampler.stepsPerEpoch,
          batch: {
            indices: batch.indices?.slice() ?? null,
            size: batch.size,
            negatives: batch.negatives?.slice() ?? null,
          },
          activity: null,
          size: batch.size,
          lossSums: [],
        };
      }
    }
  }

  /** Asks every stage for its weights after `step` steps and assigns them to the network. */
  private async copyWeightsAfter(step: number): Promise<void> {
    this.workers.forEach((worker) =>
      worker.postMessage({ type: "finish", step }),
    );
    for (let received = 0; received < this.workers.length; received++) {
      const report = await this.nextReport("weights");
      tf.tidy(() => {
        for (const { index, kernel, bias } of report.layers) {
          const layer = this.network.layers[index]!;
          layer.kernel.assign(tf.tensor2d(kernel, layer.kernel.shape));
          layer.bias.assign(tf.tensor1d(bias));
        }
      });
    }
  }

  /** Waits for the next report of the given type, skipping `done` reports of steps past a stop. */
  private async nextReport<T extends StageReport["type"]>(
    type: T,
  ): Promise<Extract<StageReport, { type: T }>> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      const next = this.reports.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (next.report.type === type)
        return next.report as Extract<StageReport, { type: T }>;
      if (next.report.type !== "done") {
        throw new Error(
          `pipeline stage ${next.stage} sent "${next.report.type}" where "${type}" was expected`,
        );
      }
    }
  }

  private fail(stage: number, error: Error): void {
    if (this.failure === null) {
      const layers = this.groups[stage]!.join(", ");
      this.failure = new Error(
        `pipeline stage ${stage} (layers ${layers}) failed: ${error.message}`,
        { cause: error },
      );
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private emit(event: Parameters<TrainEventListener>[0]): void {
    this.options.onEvent?.(event);
  }
}

/** Describes the stage of each group of layers, connected in order by message channels. */
async function stageInits(
  options: TrainOptions,
  network: FFNetwork,
  sampler: BatchSampler,
  groups: number[][],
): Promise<StageInit[]> {
  const backend = await currentWorkerBackend();
  const weights = network.toArrays();
  const channels = groups.slice(1).map(() => new MessageChannel());
  return groups.map((layers, index) => ({
    index,
    backend,
    recipe: options.recipe,
    architecture: network.architecture,
    settings: network.settings,
    weights,
    layers,
    train: index === 0 ? firstImages(options, sampler.count) : null,
    labels: index === 0 ? sampler.labels : null,
    fullBatch: sampler.batchSize === sampler.count,
    maxStepsInFlight: maxStepsInFlight(groups.length),
    upstream: index === 0 ? null : channels[index - 1]!.port2,
    downstream: index === groups.length - 1 ? null : channels[index]!.port1,
  }));
}

/**
 * Steps the first stage may be ahead of the last one. One step per stage keeps every stage busy;
 * as many again hides the time messages take between threads.
 */
function maxStepsInFlight(stageCount: number): number {
  return 2 * stageCount;
}

/** Copies the images that training uses out of a possibly larger buffer, so that only they are sent. */
function firstImages(options: TrainOptions, count: number): LabelledImages {
  const { train } = options;
  return {
    images: train.images.slice(0, count * train.pixels),
    labels: train.labels.slice(0, count),
    count,
    pixels: train.pixels,
  };
}

/** Returns the buffers of a step message's batch, which `stepMessages` copied for this message alone. */
function transfers(message: StepMessage): ArrayBuffer[] {
  const arrays = [message.batch?.indices, message.batch?.negatives];
  return arrays
    .filter((array) => array !== null && array !== undefined)
    .map((array) => array.buffer as ArrayBuffer);
}
