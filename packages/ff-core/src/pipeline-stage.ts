import { readFileSync } from "node:fs";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";

import * as tf from "@tensorflow/tfjs-core";
import createDebug from "debug";

import { AdamOptimizer } from "./adam.ts";
import type {
  FFArchitecture,
  FFSettings,
  Recipe,
  TrainingSettings,
} from "./config.ts";
import type { LabelledImages } from "./data.ts";
import {
  LayerSteps,
  stepGradients,
  TrainingImages,
  type LayerStep,
} from "./layer-steps.ts";
import { FFNetwork, normalizeRows, type LayerArrays } from "./network.ts";
import type { Batch } from "./sampling.ts";
import { startWorkerBackend, type WorkerBackend } from "./worker-threads.ts";

const log = createDebug("ffads:ff-core:pipeline");

/** Everything a stage needs, sent as the worker's `workerData`. */
export interface StageInit {
  index: number;
  /** The main thread's backend; every stage must compute with the same kernels. */
  backend: WorkerBackend;
  recipe: Recipe;
  /** The network's own architecture and settings, which may differ from the recipe's settings. */
  architecture: FFArchitecture;
  settings: FFSettings;
  /** Initial parameters of every layer of the network. */
  weights: LayerArrays[];
  /** The layers this stage trains, consecutive and in order. */
  layers: number[];
  /** The training images for the stage that trains the first layer, or null for the others. */
  train: LabelledImages | null;
  /** Labels of the `trainCount` images used, for the stage that trains the first layer, or null. */
  labels: Int32Array | null;
  fullBatch: boolean;
  /** Steps the first stage may run ahead of the last. Each stage keeps its weights of that many steps back. */
  maxStepsInFlight: number;
  /** Port that delivers step messages, or null for the first stage, which gets them from the main thread. */
  upstream: MessagePort | null;
  /** Port to the next stage, or null for the last stage, which reports to the main thread. */
  downstream: MessagePort | null;
}

/** One optimiser step, sent by the main thread to the first stage and by each stage to the next. */
export interface StepMessage {
  type: "step";
  /** 1-based step number over the whole run. */
  step: number;
  epoch: number;
  /** True on the last step of an epoch, when every stage adds its epoch loss sums. */
  epochEnd: boolean;
  /** The rows and negative labels, for the first stage only. */
  batch: Batch | null;
  /**
   * Activity of the layer below this stage, positive rows then negative rows, [2 * batch, width];
   * null for the first stage. The receiving stage normalises it, which takes that work off the
   * first stage, the busier one.
   */
  activity: Float32Array<ArrayBuffer> | null;
  size: number;
  /** Loss sums of the epoch for the layers of earlier stages in layer order, or empty unless `epochEnd`. */
  lossSums: number[];
}

/** Request for a stage's weights after `step` steps, after which the stage stops. */
export interface FinishMessage {
  type: "finish";
  step: number;
}

/** The trained parameters of one layer, as a stage returns them. */
export interface LayerWeights {
  index: number;
  kernel: Float32Array<ArrayBuffer>;
  bias: Float32Array<ArrayBuffer>;
}

/** Messages a stage sends to the main thread. */
export type StageReport =
  | { type: "ready" }
  /** Report of the last stage that a step is done on every layer, with every layer's loss sum at an epoch's end. */
  | { type: "done"; step: number; lossSums: number[] }
  | {
      type: "weights";
      layers: LayerWeights[];
    };

/**
 * Runs the pipeline stage that `workerData` describes in this worker thread. It trains its layers
 * on each step message, passes its output on, and returns its weights on the main thread's
 * request. Errors stay uncaught, so the main thread receives them as the worker's `error` event.
 */
export async function runStage(): Promise<void> {
  const init = workerData as StageInit;
  const mainPort = parentPort!;
  await startWorkerBackend(init.backend);
  const stage = new PipelineStage(init);
  log("stage %d ready for layers %o", init.index, init.layers);

  const stepSource = init.upstream ?? mainPort;
  const onStep = (message: StepMessage | FinishMessage): void => {
    if (message.type !== "step") return;
    const output = stage.runStep(message);
    if (init.downstream !== null) {
      const next: StepMessage = {
        type: "step",
        step: message.step,
        epoch: message.epoch,
        epochEnd: message.epochEnd,
        batch: null,
        activity: output.activity,
        size: message.size,
        lossSums: output.lossSums,
      };
      init.downstream.postMessage(next, [output.activity!.buffer]);
    } else {
      const report: StageReport = {
        type: "done",
        step: message.step,
        lossSums: output.lossSums,
      };
      mainPort.postMessage(report);
    }
  };
  stepSource.on("message", onStep);
  mainPort.on("message", (message: StepMessage | FinishMessage) => {
    if (message.type !== "finish") return;
    stepSource.off("message", onStep);
    init.upstream?.close();
    const layers = stage.weightsAfter(message.step);
    const report: StageReport = { type: "weights", layers };
    mainPort.postMessage(
      report,
      layers.flatMap((layer) => [layer.kernel.buffer, layer.bias.buffer]),
    );
    stage.dispose();
    init.downstream?.close();
  });
  mainPort.postMessage({ type: "ready" } satisfies StageReport);
}

/** The layers of one stage with their optimiser, loss sums and recent weights. */
class PipelineStage {
  private readonly network: FFNetwork;
  private readonly images: TrainingImages | null;
  private readonly steps: LayerSteps;
  private readonly optimizer: AdamOptimizer;
  private readonly training: TrainingSettings;
  private lossSums: tf.Scalar[] = [];
  private epoch = 0;
  /** Wall time spent in `runStep` during the current epoch, for the debug log. */
  private busyMs = 0;
  /** CPU time of this thread when the current epoch started, for the debug log; null if unknown. */
  private epochCpuMs: number | null = null;
  /** Copies of this stage's kernels and biases after each recent step, by step number. */
  private readonly snapshots = new Map<number, tf.Tensor[]>();

  constructor(private readonly init: StageInit) {
    this.training = init.recipe.training;
    this.network = FFNetwork.fromArrays(
      init.architecture,
      init.settings,
      init.weights,
    );
    this.images =
      init.train === null
        ? null
        : new TrainingImages(
            this.network,
            init.train,
            init.labels!,
            init.fullBatch,
          );
    this.steps = new LayerSteps(init.recipe, this.network, this.images);
    this.optimizer = new AdamOptimizer(
      this.variables(),
      this.training.learningRate,
    );
    this.snapshots.set(0, this.copyWeights());
  }

  /**
   * Trains this stage's layers on one step, exactly as `Trainer.computeStep` and
   * `Trainer.trainLayers` do for those layers, and returns the activity of the last one (null for
   * the last stage) and, at an epoch's end, the loss sums so far.
   */
  runStep(message: StepMessage): {
    activity: Float32Array<ArrayBuffer> | null;
    lossSums: number[];
  } {
    const started = performance.now();
    if (message.epoch !== this.epoch) this.startEpoch(message.epoch);
    const layers = this.init.layers;
    const normalization = this.init.recipe.architecture.normalization;
    const { gradients, losses, output } = tf.tidy(() => {
      const gradients: tf.Tensor[] = [];
      const losses: tf.Scalar[] = [];
      let input: tf.Tensor2D | null = null;
      for (const layer of layers) {
        let step: LayerStep;
        if (layer === 0) {
          const first = this.steps.firstLayerStep(message.batch!, true);
          step = first.step!;
          input = first.activity;
        } else {
          const below =
            input ??
            tf.tensor2d(message.activity!, [
              2 * message.size,
              this.init.architecture.layerSizes[layer]!,
            ]);
          const normalized = normalizeRows(below, normalization);
          const dense = this.steps.denseLayerStep(
            layer,
            normalized,
            message.size,
            null,
          );
          step = dense;
          input = dense.activity;
        }
        gradients.push(...stepGradients(step));
        losses.push(step.loss);
      }
      const output: tf.Tensor2D[] =
        this.init.downstream === null ? [] : [input!];
      return { gradients, losses, output };
    });
    // Copied, because the cpu backend returns its own storage and the buffer is transferred.
    const activity =
      output.length === 0 ? null : new Float32Array(output[0]!.dataSync());
    tf.dispose(output);

    this.optimizer.apply(gradients);
    losses.forEach((loss, i) => {
      const previous = this.lossSums[i]!;
      this.lossSums[i] = tf.add(previous, loss);
      previous.dispose();
    });
    tf.dispose([...gradients, ...losses]);
    this.keepSnapshot(message.step);

    const lossSums = message.epochEnd
      ? [...message.lossSums, ...this.lossSums.map((sum) => sum.dataSync()[0]!)]
      : [];
    this.busyMs += performance.now() - started;
    if (message.epochEnd) {
      const cpuMs = threadCpuMs();
      log(
        "stage %d busy %d ms (%s ms of CPU time) in epoch %d",
        this.init.index,
        Math.round(this.busyMs),
        cpuMs === null || this.epochCpuMs === null
          ? "?"
          : Math.round(cpuMs - this.epochCpuMs),
        this.epoch,
      );
    }
    return { activity, lossSums };
  }

  /** This stage's weights after `step` steps, which must be one of the recent steps. */
  weightsAfter(step: number): LayerWeights[] {
    const snapshot = this.snapshots.get(step);
    if (snapshot === undefined) {
      throw new Error(
        `stage ${this.init.index} keeps the weights of steps ${[...this.snapshots.keys()].join(", ")}, not of step ${step}`,
      );
    }
    // The first layer's kernel is kept as its label rows and its pixel rows, in this order.
    let next = 0;
    return this.init.layers.map((index) => {
      const parts = snapshot.slice(next, next + (index === 0 ? 2 : 1));
      next += parts.length;
      const bias = snapshot[next++]!;
      const kernel = new Float32Array(
        parts.reduce((size, part) => size + part.size, 0),
      );
      let offset = 0;
      for (const part of parts) {
        kernel.set(part.dataSync() as Float32Array, offset);
        offset += part.size;
      }
      return { index, kernel, bias: new Float32Array(bias.dataSync()) };
    });
  }

  dispose(): void {
    this.optimizer.dispose();
    this.images?.dispose();
    this.lossSums.forEach((sum) => sum.dispose());
    this.snapshots.forEach((tensors) => tf.dispose(tensors));
    this.steps.dispose();
    this.network.dispose();
  }

  private startEpoch(epoch: number): void {
    this.epoch = epoch;
    this.busyMs = 0;
    this.epochCpuMs = threadCpuMs();
    this.optimizer.learningRate =
      this.training.learningRate *
      this.training.learningRateDecay ** (epoch - 1);
    this.lossSums.forEach((sum) => sum.dispose());
    this.lossSums = this.init.layers.map(() => tf.scalar(0));
  }

  private variables(): tf.Variable[] {
    return this.steps.trainableVariables(this.init.layers);
  }

  /** Copies of this stage's trained variables, in the order of `variables`. */
  private copyWeights(): tf.Tensor[] {
    return this.variables().map((variable) => tf.clone(variable));
  }

  private keepSnapshot(step: number): void {
    this.snapshots.set(step, this.copyWeights());
    const oldest = step - this.init.maxStepsInFlight;
    for (const kept of [...this.snapshots.keys()]) {
      if (kept < oldest) {
        tf.dispose(this.snapshots.get(kept)!);
        this.snapshots.delete(kept);
      }
    }
  }
}

/**
 * Returns the CPU time of the calling thread in milliseconds, which unlike wall time does not grow
 * when other processes share the cores. Returns null outside Linux, because it reads /proc.
 */
function threadCpuMs(): number | null {
  let stat: string;
  try {
    stat = readFileSync("/proc/thread-self/stat", "utf8");
  } catch {
    return null;
  }
  // Fields 14 and 15 (utime, stime) count ticks of 1/100 s, the USER_HZ of Linux. The fields are
  // counted after the command name, which ends in ") ".
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
