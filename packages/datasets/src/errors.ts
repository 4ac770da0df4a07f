/** Codes of the ways loading a dataset can fail, one per kind of problem. */
export type DatasetErrorCode =
  | "IDX_BAD_MAGIC"
  | "IDX_UNSUPPORTED_TYPE"
  | "IDX_BAD_DIMENSIONS"
  | "IDX_TRUNCATED"
  | "IDX_TOO_LONG"
  | "IDX_BAD_GZIP"
  | "LABEL_OUT_OF_RANGE"
  | "COUNT_MISMATCH"
  | "CHECKSUM_MISMATCH"
  | "DATASET_NOT_FOUND"
  | "DOWNLOAD_FAILED"
  | "INVALID_OPTION";

/**
 * An error in a dataset file, its location or its download. The message names the file or
 * setting, what is wrong with it and what to do.
 */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;

  constructor(code: DatasetErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetError";
    this.code = code;
  }
}
