/** The kind of problem found when reading a model folder or a saliency folder. */
export type FormatErrorCode =
  | "missing-file"
  | "read-failed"
  | "invalid-json"
  | "wrong-format"
  | "unsupported-version"
  | "invalid-field"
  | "invalid-npy"
  | "shape-mismatch";

/**
 * An error in a file that a reader of the folder formats (docs/formats.md) cannot use. The message
 * starts with the file, names the field or the problem, and states what was expected.
 */
export class FormatError extends Error {
  override name = "FormatError";
  readonly code: FormatErrorCode;
  /** The path of the file, relative to the folder being read (or as the caller named it). */
  readonly file: string;
  /** Each problem found, one sentence each; `message` joins them. */
  readonly problems: readonly string[];

  constructor(
    code: FormatErrorCode,
    file: string,
    problems: string | readonly string[],
  ) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(`${file}: ${list.join("; ")}`);
    this.code = code;
    this.file = file;
    this.problems = list;
  }
}

/** Returns whether `error` is a FormatError for a file that does not exist. */
export function isMissingFile(error: unknown): boolean {
  return error instanceof FormatError && error.code === "missing-file";
}
