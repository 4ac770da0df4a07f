import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";

import createDebug from "debug";

import type { DatasetName, OfficialFile } from "./catalog.ts";
import { fileIdentity, rememberSha256, sha256Hex } from "./checksum.ts";
import { DatasetError } from "./errors.ts";
import type { DatasetEventListener } from "./events.ts";
import { decompressIdx, isGzip } from "./idx.ts";

const log = createDebug("ffads:datasets");

/**
 * Margin over the decompressed size when bounding a download. A raw copy has exactly the
 * decompressed size and the official gzip files are less than 60% of it, so the margin only has
 * to absorb gzip headers and a less effective compressor.
 */
const DOWNLOAD_SLACK_BYTES = 1024 * 1024;

export interface DownloadRequest {
  dataset: DatasetName;
  /** The dataset's title for messages, e.g. `Fashion-MNIST`. */
  title: string;
  file: OfficialFile;
  /** The folder to write the file into; it is created if missing. */
  folder: string;
  /** Base URLs ending in `/`, tried in order. */
  mirrors: readonly string[];
  /** Milliseconds a mirror may go without sending data before it is abandoned. */
  timeoutMs: number;
  onEvent?: DatasetEventListener | undefined;
}

/**
 * Downloads one official file into `request.folder`, trying each mirror in order until one
 * delivers bytes with the official SHA-256, and returns the path written. The bytes are verified
 * in memory and then written to a temporary name and renamed, so a failed download never leaves
 * a file under the final name. The file keeps the form it was served in: gzip data under the
 * `.gz` name, raw IDX bytes under the raw name.
 *
 * @throws DatasetError DOWNLOAD_FAILED, listing each mirror's failure, when every mirror fails
 */
export async function downloadOfficialFile(
  request: DownloadRequest,
): Promise<string> {
  const { dataset, file, mirrors, onEvent } = request;
  await mkdir(request.folder, { recursive: true });

  const failures: string[] = [];
  for (const mirror of mirrors) {
    const url = new URL(file.fileName, mirror).href;
    log("downloading %s", url);
    onEvent?.({
      type: "download-start",
      dataset,
      fileName: file.fileName,
      url,
    });

    try {
      const body = await fetchBody(
        url,
        request.timeoutMs,
        file.byteLength + DOWNLOAD_SLACK_BYTES,
        (receivedBytes, totalBytes) =>
          onEvent?.({
            type: "download-progress",
            dataset,
            fileName: file.fileName,
            url,
            receivedBytes,
            totalBytes,
          }),
      );
      await verifyDownload(body, file);
      const path = await writeAtomically(
        request.folder,
        isGzip(body) ? file.fileName : file.rawName,
        body,
      );
      rememberSha256(await fileIdentity(path), file.sha256);

      log("downloaded %s to %s (%d bytes)", url, path, body.byteLength);
      onEvent?.({
        type: "download-complete",
        dataset,
        fileName: file.fileName,
        url,
        path,
        byteLength: body.byteLength,
      });
      return path;
    } catch (error) {
      if (!(error instanceof MirrorError)) throw error;
      log("mirror failed: %s: %s", url, error.message);
      failures.push(`  ${url}: ${error.message}`);
      onEvent?.({
        type: "mirror-failed",
        dataset,
        fileName: file.fileName,
        url,
        message: error.message,
      });
    }
  }

  throw new DatasetError(
    "DOWNLOAD_FAILED",
    `Download of ${request.title} ${file.fileName} failed from every mirror:\n` +
      `${failures.join("\n")}\n` +
      `Check the network connection and proxy, or set FFADS_MIRROR to a mirror that works. ` +
      `You can also download the file by hand into ${request.folder}, or into any folder ` +
      `passed with --data-dir; docs/datasets.md lists the URLs and checksums.`,
  );
}

/** A failure of one mirror; the download moves on to the next mirror. */
class MirrorError extends Error {}

/**
 * Fetches a URL into memory. Aborts when no data arrives for `timeoutMs`, and when the body
 * exceeds `maxBytes`.
 */
async function fetchBody(
  url: string,
  timeoutMs: number,
  maxBytes: number,
  onProgress: (receivedBytes: number, totalBytes: number | null) => void,
): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const restartTimer = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), timeoutMs);
  };
  let response: Response | undefined;
  let receivedBytes = 0;
  let totalBytes: number | null = null;
  const progress = (): string =>
    totalBytes === null
      ? `after ${receivedBytes} bytes`
      : `after ${receivedBytes} of ${totalBytes} bytes`;

  restartTimer();
  try {
    response = await fetch(url, { signal: controller.signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new MirrorError(
        `HTTP ${response.status} ${response.statusText}`.trim(),
      );
    }
    if (response.body === null) {
      throw new MirrorError("the response has no body");
    }

    // fetch decodes a Content-Encoding such as gzip, and Content-Length then counts the encoded
    // bytes, so it can neither bound nor check what the loop receives.
    const encoding = response.headers.get("content-encoding");
    if (encoding === null || encoding === "identity") {
      totalBytes = parseContentLength(response.headers.get("content-length"));
    }
    if (totalBytes !== null && totalBytes > maxBytes) {
      await response.body.cancel();
      throw new MirrorError(
        `the response declares ${totalBytes} bytes, more than the ${maxBytes} that a copy of this file can have`,
      );
    }

    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      receivedBytes += chunk.byteLength;
      if (receivedBytes > maxBytes) {
        throw new MirrorError(
          `the response exceeds ${maxBytes} bytes, more than a copy of this file can have`,
        );
      }
      chunks.push(chunk);
      restartTimer();
      onProgress(receivedBytes, totalBytes);
    }
    if (totalBytes !== null && receivedBytes !== totalBytes) {
      throw new MirrorError(`connection closed ${progress()}`);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof MirrorError) throw error;
    if (controller.signal.aborted && response === undefined) {
      throw new MirrorError(`timed out: no response within ${timeoutMs} ms`);
    }
    if (controller.signal.aborted) {
      throw new MirrorError(
        `timed out: no data for ${timeoutMs} ms, ${progress()}`,
      );
    }
    if (response === undefined) {
      throw new MirrorError(describeFetchError(error));
    }
    throw new MirrorError(
      `connection lost ${progress()}: ${describeFetchError(error)}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Throws a MirrorError unless the bytes decompress to the official file. */
async function verifyDownload(
  body: Uint8Array,
  file: OfficialFile,
): Promise<void> {
  let raw: Uint8Array;
  try {
    raw = await decompressIdx(body, file.fileName, file.byteLength);
  } catch (error) {
    if (error instanceof DatasetError) throw new MirrorError(error.message);
    throw error;
  }

  const sha256 = sha256Hex(raw);
  if (sha256 !== file.sha256) {
    throw new MirrorError(
      `SHA-256 mismatch: the decompressed bytes hash to ${sha256}, expected ${file.sha256}`,
    );
  }
}

/** Writes the bytes to a temporary file in `folder`, flushes it, and renames it to `name`. */
async function writeAtomically(
  folder: string,
  name: string,
  bytes: Uint8Array,
): Promise<string> {
  const finalPath = join(folder, name);
  const tempPath = join(
    folder,
    `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  try {
    const handle = await open(tempPath, "wx");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, finalPath);
    return finalPath;
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
}

function parseContentLength(header: string | null): number | null {
  if (header === null || !/^\d+$/.test(header.trim())) return null;
  return Number(header.trim());
}

/** Describes a fetch error with its cause, e.g. `fetch failed (connect ECONNREFUSED ...)`. */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause === undefined ? error.message : `${error.message} (${cause})`;
}
