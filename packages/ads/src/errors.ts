/** Codes of the mistakes a caller of the ADS engine can make, one per kind. */
export type AdsErrorCode =
  "INVALID_OPTION" | "INVALID_INPUT" | "UNSUPPORTED_CLASSIFIER";

/** An error caused by invalid options or input; the message names the value and the fix. */
export class AdsError extends Error {
  readonly code: AdsErrorCode;

  constructor(code: AdsErrorCode, message: string) {
    super(message);
    this.name = "AdsError";
    this.code = code;
  }
}
