import type { DatasetName } from "./catalog.ts";

/** Typed progress events of loading a dataset, for the CLI to render and tests to assert on. */
export type DatasetEvent =
  | {
      type: "file-verified";
      dataset: DatasetName;
      path: string;
      /** SHA-256 of the decompressed IDX bytes, lowercase hex. */
      sha256: string;
      /** True when this process had already hashed the unchanged file and skipped hashing it. */
      memoised: boolean;
    }
  | {
      type: "download-start";
      dataset: DatasetName;
      fileName: string;
      url: string;
    }
  | {
      type: "download-progress";
      dataset: DatasetName;
      fileName: string;
      url: string;
      receivedBytes: number;
      /** The response's Content-Length, or null when the server sent none. */
      totalBytes: number | null;
    }
  | {
      type: "download-complete";
      dataset: DatasetName;
      fileName: string;
      url: string;
      /** Path of the verified file written. */
      path: string;
      byteLength: number;
    }
  | {
      /** A mirror failed; the next one is tried if there is one. */
      type: "mirror-failed";
      dataset: DatasetName;
      fileName: string;
      url: string;
      message: string;
    };

export type DatasetEventListener = (event: DatasetEvent) => void;
