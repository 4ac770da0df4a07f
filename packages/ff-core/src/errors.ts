/** Codes of the mistakes a caller of ff-core can make, one per kind. */
export type FFErrorCode =
  | "INVALID_CONFIG"
  | "INVALID_INPUT"
  | "MODEL_NOT_FOUND"
  | "MODEL_FORMAT"
  | "MODEL_VERSION"
  | "MODEL_WEIGHTS";

/** An error caused by invalid settings, input or files, whose message states the fix. */
export class FFError extends Error {
  readonly code: FFErrorCode;

  constructor(code: FFErrorCode, message: string) {
    super(message);
    this.name = "FFError";
    this.code = code;
  }
}
