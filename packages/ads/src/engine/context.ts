import type { Classifier } from "../classifier.ts";
import type { AdsPairCounts, AdsStage } from "../events.ts";
import type { ResolvedOptions } from "../options.ts";
import type { WindowGrid } from "../windows.ts";
import type { OcclusionTally } from "./tally.ts";

/** The state every stage of a run shares: the inputs, the settings and the running counts. */
export interface EngineContext {
  classifier: Classifier;
  /** Raw images as bytes, [count, pixels] row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  pixels: number;
  grid: WindowGrid;
  /** The baseline value of every pixel, raw, as float32. */
  baseline: Float32Array;
  options: ResolvedOptions;
  tally: OcclusionTally;
  pairs: AdsPairCounts;
  /** Reports progress, lets the event loop run, and throws the signal's reason once aborted. */
  progress(stage: AdsStage, completed: number, total: number): Promise<void>;
}

/** Images per call of the classifier's plain scoring, which runs one pass per class. */
export function plainBatchImages(context: EngineContext): number {
  return Math.max(
    1,
    Math.floor(context.options.batchSize / context.classifier.classCount),
  );
}
