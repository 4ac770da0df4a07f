/** Typed progress events of training, rendered by the CLI and asserted on by tests. */
export type TrainEvent =
  | {
      type: "start";
      layerCount: number;
      /** Optimiser steps the whole run will take, over all layers. */
      totalSteps: number;
      /** Epochs per layer (sequential) or in all (joint). */
      epochs: number;
      stepsPerEpoch: number;
      schedule: "sequential" | "joint";
      /** Threads that compute the steps: 1, or the stages of a pipeline (see `TrainOptions.threads`). */
      threads: number;
    }
  | {
      type: "step";
      completedSteps: number;
      totalSteps: number;
      /** The layer being trained, or null when all layers train together. */
      layer: number | null;
      epoch: number;
    }
  | {
      type: "epoch";
      /** The layer being trained, or null when all layers train together. */
      layer: number | null;
      /** 1-based epoch number within the layer (sequential) or the run (joint). */
      epoch: number;
      epochs: number;
      /** Mean loss of the epoch, one value per layer; NaN for layers not trained in this epoch. */
      loss: number[];
      epochMs: number;
      completedSteps: number;
      totalSteps: number;
    }
  | {
      type: "evaluate";
      split: "train" | "test";
      accuracy: number;
      imageCount: number;
      evalMs: number;
    }
  | { type: "end"; wallTimeMs: number; stopped: boolean };

export type TrainEventListener = (event: TrainEvent) => void;
