/**
 * @ffads/ads: Accuracy Differential Saliency for Forward-Forward networks and other classifiers
 * (docs/ads.md), and the saliency folder format (docs/formats.md).
 *
 * The functions the CLI uses:
 *
 *   runAds({ network, images, imageIndices?, classNames?, options?, onEvent?, signal? })
 *     : Promise<AdsResult>
 *     Measures the dataset-level ADS map, one map per class, the accuracy with each window
 *     occluded and per-image goodness-margin maps of sample images, in one pass. `network` is an
 *     FFNetwork (fast path) or any `Classifier`; `options` are `AdsOptions` (windowSize 3,
 *     stride 1, baseline zero, method "fast", batchSize 4096, samples 2 correct and 1
 *     misclassified per class). Progress arrives as `AdsEvent`s; an aborted `signal` rejects
 *     the promise with the signal's reason.
 *
 *   writeFigures(dir, result): Promise<FigureEntry[]>
 *     Writes ads.png, ads-overlay.png, class-ads.png and sample-maps.png.
 *
 *   writeSaliencyFolder(dir, result, { model, dataset, split, classes?, figures?, createdAt? })
 *     : Promise<SaliencyManifest>
 *     Writes the .npy arrays and then manifest.json, each atomically.
 *
 * The reader of saliency folders, with no tfjs or Node import, is `@ffads/ads/format`.
 */
export * from "./run.ts";
export * from "./classifier.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./options.ts";
export * from "./windows.ts";
export { writeSaliencyFolder, type SaliencyMetadata } from "./format/writer.ts";
export {
  figuresOf,
  overlayColor,
  renderPanels,
  writeFigures,
  type FigureLayout,
  type Panel,
} from "./figures/figures.ts";
export type {
  Baseline,
  FigureEntry,
  ModelReference,
  SaliencyManifest,
  SampleEntry,
} from "./format/manifest.ts";
