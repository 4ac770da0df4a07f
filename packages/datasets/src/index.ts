export {
  classNamesOf,
  DATASET_NAMES,
  datasetInfo,
  SPLITS,
  type DatasetInfo,
  type DatasetName,
  type OfficialFile,
  type Split,
  type SplitInfo,
} from "./catalog.ts";
export { clearChecksumMemo } from "./checksum.ts";
export { DatasetError, type DatasetErrorCode } from "./errors.ts";
export type { DatasetEvent, DatasetEventListener } from "./events.ts";
export {
  isGzip,
  parseIdx,
  readIdxFile,
  type IdxArray,
  type ParseIdxOptions,
} from "./idx.ts";
export { validateLabels, type ImageSet } from "./image-set.ts";
export { loadDataset } from "./load.ts";
export { FASHION_MNIST_SYSTEM_DIR } from "./locations.ts";
export { DEFAULT_DOWNLOAD_TIMEOUT_MS, type LoadOptions } from "./settings.ts";
