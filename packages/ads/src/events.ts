/** Typed progress events of an ADS run, rendered by the CLI and asserted on by tests. */

/**
 * The stages of a run, in order: `clean` scores the unoccluded images, `windows` occludes every
 * (image, window) pair, `samples` measures the goodness margins of the sample images.
 */
export type AdsStage = "clean" | "windows" | "samples";

/** Counts of how the fast path settled the (image, window) pairs; see docs/ads.md. */
export interface AdsPairCounts {
  /** Windows times images. */
  total: number;
  /** Pairs whose window changes no pixel, so the prediction is the clean one. */
  unchanged: number;
  /** Changed pairs whose prediction a bound proves equal to the clean one. */
  certified: number;
  /** Pairs settled by exact scores of the candidate labels computed from the first layer's update. */
  updated: number;
  /** Pairs scored by the classifier's plain definition (every pair, on the reference path). */
  plain: number;
}

export type AdsEvent =
  | {
      type: "start";
      method: "fast" | "reference";
      imageCount: number;
      windowCount: number;
      /** Windows times images. */
      totalPairs: number;
      /** 1, or the worker threads that split the images between them. */
      threads: number;
    }
  | {
      type: "progress";
      stage: AdsStage;
      /** Images for the `clean` stage, (image, window) pairs for the other stages. */
      completed: number;
      total: number;
    }
  | {
      type: "end";
      wallTimeMs: number;
      /** True when the signal aborted the run; the run then rejects with the signal's reason. */
      stopped: boolean;
      pairs: AdsPairCounts;
    };

export type AdsEventListener = (event: AdsEvent) => void;
