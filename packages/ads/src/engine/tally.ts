/** Counts of correct predictions per window and class, and the maps computed from them. */
import { windowValuesToMap, type WindowGrid } from "../windows.ts";

/**
 * Correct occluded predictions per window, overall and per class. Both paths fill it, and the maps
 * come from its integer counts, so equal predictions give bit-identical maps.
 */
export class OcclusionTally {
  readonly windowCount: number;
  readonly classCount: number;
  /** Correct predictions with each window occluded, [windows]. */
  readonly windowCorrect: Int32Array;
  /** Correct predictions per class and window, [classes, windows]. */
  readonly classWindowCorrect: Int32Array;

  constructor(windowCount: number, classCount: number) {
    this.windowCount = windowCount;
    this.classCount = classCount;
    this.windowCorrect = new Int32Array(windowCount);
    this.classWindowCorrect = new Int32Array(classCount * windowCount);
  }

  /** Records the prediction for one image of class `label` with `window` occluded. */
  record(window: number, label: number, prediction: number): void {
    if (label !== prediction) return;
    this.windowCorrect[window]! += 1;
    this.classWindowCorrect[label * this.windowCount + window]! += 1;
  }
}

/** The dataset-level and per-class maps of ADS, in accuracy points, with their accuracies. */
export interface AccuracyMaps {
  cleanAccuracy: number;
  /** [gridRows * gridCols], a fraction. */
  occludedAccuracy: Float32Array;
  /** [rows * cols], accuracy points. */
  ads: Float32Array;
  /** [classes * rows * cols], accuracy points; NaN for a class with no image. */
  classAds: Float32Array;
  /** [classes], a fraction; NaN for a class with no image. */
  classCleanAccuracy: Float32Array;
  /** [classes] */
  classImageCount: Float32Array;
}

/**
 * Computes the maps from the clean predictions and the tally: ADS at a window is
 * (clean correct - occluded correct) / images * 100, in accuracy points.
 */
export function accuracyMaps(
  grid: WindowGrid,
  tally: OcclusionTally,
  labels: Uint8Array,
  cleanPredictions: Int32Array,
): AccuracyMaps {
  const imageCount = labels.length;
  const { windowCount, classCount } = tally;
  const classImages = new Int32Array(classCount);
  const classCleanCorrect = new Int32Array(classCount);
  let cleanCorrect = 0;
  for (let image = 0; image < imageCount; image++) {
    const label = labels[image]!;
    classImages[label]! += 1;
    if (cleanPredictions[image] === label) {
      cleanCorrect += 1;
      classCleanCorrect[label]! += 1;
    }
  }

  const occludedAccuracy = new Float32Array(windowCount);
  const windowAds = new Float64Array(windowCount);
  for (let window = 0; window < windowCount; window++) {
    occludedAccuracy[window] = tally.windowCorrect[window]! / imageCount;
    windowAds[window] =
      ((cleanCorrect - tally.windowCorrect[window]!) / imageCount) * 100;
  }

  const [rows, cols] = grid.imageShape;
  const classAds = new Float32Array(classCount * rows * cols);
  const classCleanAccuracy = new Float32Array(classCount);
  const classWindowAds = new Float64Array(windowCount);
  for (let label = 0; label < classCount; label++) {
    const count = classImages[label]!;
    const mapOffset = label * rows * cols;
    if (count === 0) {
      classAds.fill(Number.NaN, mapOffset, mapOffset + rows * cols);
      classCleanAccuracy[label] = Number.NaN;
      continue;
    }
    classCleanAccuracy[label] = classCleanCorrect[label]! / count;
    for (let window = 0; window < windowCount; window++) {
      const occludedCorrect =
        tally.classWindowCorrect[label * windowCount + window]!;
      classWindowAds[window] =
        ((classCleanCorrect[label]! - occludedCorrect) / count) * 100;
    }
    classAds.set(windowValuesToMap(grid, classWindowAds), mapOffset);
  }

  return {
    cleanAccuracy: cleanCorrect / imageCount,
    occludedAccuracy,
    ads: windowValuesToMap(grid, windowAds),
    classAds,
    classCleanAccuracy,
    classImageCount: Float32Array.from(classImages),
  };
}
