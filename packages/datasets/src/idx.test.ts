import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { describe, expect, it } from "vitest";

import {
  makeIdx,
  makeImagesIdx,
  makeLabelsIdx,
  makeTempDir,
} from "../test/fixtures.ts";
import { DatasetError, type DatasetErrorCode } from "./errors.ts";
import { isGzip, parseIdx, readIdxFile, type ParseIdxOptions } from "./idx.ts";

describe("parseIdx", () => {
  it("reads a hand-made images file", () => {
    const bytes = makeIdx(
      0x08,
      [2, 3, 4],
      Array.from({ length: 24 }, (_, i) => 10 * i),
    );

    const parsed = parseIdx(bytes, "images.idx");

    expect(parsed.dataType).toBe("uint8");
    expect(parsed.shape).toEqual([2, 3, 4]);
    expect(Array.from(parsed.data)).toEqual(
      Array.from({ length: 24 }, (_, i) => (10 * i) % 256),
    );
  });

  it("reads a hand-made labels file", () => {
    const parsed = parseIdx(makeLabelsIdx([7, 2, 1, 0]), "labels.idx", {
      expectedDimensions: 1,
    });

    expect(parsed.shape).toEqual([4]);
    expect(Array.from(parsed.data)).toEqual([7, 2, 1, 0]);
  });

  it("copies raw data into a buffer of its own", () => {
    const bytes = makeImagesIdx(1, 2, 2);

    const parsed = parseIdx(bytes, "images.idx");
    bytes[16] = 99;

    expect(parsed.data.byteOffset).toBe(0);
    expect(parsed.data.buffer.byteLength).toBe(4);
    expect(parsed.data[0]).toBe(0);
  });

  it("copies gzip data into a buffer of its own", () => {
    const parsed = parseIdx(gzipSync(makeImagesIdx(1, 2, 2)), "images.idx.gz");

    expect(Buffer.isBuffer(parsed.data)).toBe(false);
    expect(parsed.data.byteOffset).toBe(0);
    expect(parsed.data.buffer.byteLength).toBe(4);
  });

  it("reads gzip data like raw data", () => {
    const raw = makeImagesIdx(3, 4, 5);
    const gzip = gzipSync(raw);

    expect(isGzip(gzip)).toBe(true);
    expect(isGzip(raw)).toBe(false);
    expect(parseIdx(gzip, "images.idx.gz")).toEqual(
      parseIdx(raw, "images.idx"),
    );
  });

  it("accepts a dimension of size zero", () => {
    const parsed = parseIdx(makeIdx(0x08, [0, 28, 28], []), "empty.idx");

    expect(parsed.shape).toEqual([0, 28, 28]);
    expect(parsed.data.length).toBe(0);
  });
});

describe("readIdxFile", () => {
  it("reads raw and gzip files", async () => {
    const folder = await makeTempDir();
    const raw = makeLabelsIdx([3, 1, 4, 1, 5]);
    await writeFile(join(folder, "labels"), raw);
    await writeFile(join(folder, "labels.gz"), gzipSync(raw));

    const fromRaw = await readIdxFile(join(folder, "labels"));
    const fromGzip = await readIdxFile(join(folder, "labels.gz"), {
      expectedDimensions: 1,
    });

    expect(Array.from(fromRaw.data)).toEqual([3, 1, 4, 1, 5]);
    expect(fromGzip).toEqual(fromRaw);
  });

  it("names the path in errors", async () => {
    const folder = await makeTempDir();
    const path = join(folder, "broken.gz");
    await writeFile(path, gzipSync(makeLabelsIdx([1, 2])).subarray(0, 12));

    const error = await readIdxFile(path).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).code).toBe("IDX_BAD_GZIP");
    expect((error as DatasetError).message).toContain(path);
  });
});

/** A valid 2-image file of 2 x 2 pixels: a 16-byte header and 8 pixel bytes. */
const VALID_IMAGES = makeImagesIdx(2, 2, 2);

/** Returns a copy of `bytes` with `changes` applied, as [index, value] pairs. */
function patched(
  bytes: Uint8Array,
  changes: ReadonlyArray<[number, number]>,
): Uint8Array {
  const copy = bytes.slice();
  for (const [index, value] of changes) copy[index] = value;
  return copy;
}

/** Returns gzip data whose deflate stream is damaged in the middle. */
function corruptGzip(): Uint8Array {
  const gzip = gzipSync(makeImagesIdx(50, 28, 28));
  const copy = gzip.slice();
  for (let i = 20; i < 40; i++) copy[i] = 0xff;
  return copy;
}

interface ErrorCase {
  name: string;
  bytes: Uint8Array;
  options?: ParseIdxOptions;
  code: DatasetErrorCode;
  /** Text the message must contain besides the file name. */
  detail: string;
}

const ERROR_CASES: ErrorCase[] = [
  {
    name: "nonzero first magic byte",
    bytes: patched(VALID_IMAGES, [[0, 0x01]]),
    code: "IDX_BAD_MAGIC",
    detail: "0x01000803",
  },
  {
    name: "nonzero second magic byte",
    bytes: patched(VALID_IMAGES, [[1, 0x10]]),
    code: "IDX_BAD_MAGIC",
    detail: "0x00100803",
  },
  {
    name: "unknown data type byte",
    bytes: patched(VALID_IMAGES, [[2, 0x05]]),
    code: "IDX_BAD_MAGIC",
    detail: "0x00000503",
  },
  {
    name: "text instead of IDX",
    bytes: new TextEncoder().encode("<html>Not Found</html>"),
    code: "IDX_BAD_MAGIC",
    detail: "0x3c68746d",
  },
  {
    name: "float32 data type",
    bytes: makeIdx(0x0d, [2], [0, 0, 0, 0, 0, 0, 0, 0]),
    code: "IDX_UNSUPPORTED_TYPE",
    detail: "0x0d (float32)",
  },
  {
    name: "signed byte data type",
    bytes: makeIdx(0x09, [2], [0, 0]),
    code: "IDX_UNSUPPORTED_TYPE",
    detail: "0x09 (signed byte)",
  },
  {
    name: "zero dimensions",
    bytes: makeIdx(0x08, [], []),
    code: "IDX_BAD_DIMENSIONS",
    detail: "declares 0 dimensions",
  },
  {
    name: "labels read as images",
    bytes: makeLabelsIdx([1, 2, 3]),
    options: { expectedDimensions: 3 },
    code: "IDX_BAD_DIMENSIONS",
    detail: "declares 1 dimensions, expected 3",
  },
  {
    name: "images read as labels",
    bytes: VALID_IMAGES,
    options: { expectedDimensions: 1 },
    code: "IDX_BAD_DIMENSIONS",
    detail: "declares 3 dimensions, expected 1",
  },
  {
    name: "empty file",
    bytes: new Uint8Array(0),
    code: "IDX_TRUNCATED",
    detail: "0 bytes long",
  },
  {
    name: "file cut inside the sizes",
    bytes: VALID_IMAGES.subarray(0, 10),
    code: "IDX_TRUNCATED",
    detail: "needs 16 bytes for 3 dimensions, but the file has 10",
  },
  {
    name: "file one pixel short",
    bytes: VALID_IMAGES.subarray(0, VALID_IMAGES.length - 1),
    code: "IDX_TRUNCATED",
    detail: "shape [2, 2, 2], which needs 24 bytes, but the file has 23",
  },
  {
    name: "sizes far beyond the file",
    bytes: makeIdx(0x08, [0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]),
    code: "IDX_TRUNCATED",
    detail: "[4294967295, 4294967295, 4294967295]",
  },
  {
    name: "file one byte too long",
    bytes: Uint8Array.from([...VALID_IMAGES, 7]),
    code: "IDX_TOO_LONG",
    detail: "1 bytes longer than the 24 bytes",
  },
  {
    name: "gzip with a damaged stream",
    bytes: corruptGzip(),
    code: "IDX_BAD_GZIP",
    detail: "invalid gzip data",
  },
  {
    name: "gzip cut short",
    bytes: gzipSync(makeImagesIdx(50, 28, 28)).subarray(0, 200),
    code: "IDX_BAD_GZIP",
    detail: "invalid gzip data",
  },
  {
    name: "gzip of only the magic bytes",
    bytes: Uint8Array.from([0x1f, 0x8b]),
    code: "IDX_BAD_GZIP",
    detail: "invalid gzip data",
  },
  {
    name: "gzip past maxBytes",
    bytes: gzipSync(makeImagesIdx(10, 28, 28)),
    options: { maxBytes: 1000 },
    code: "IDX_TOO_LONG",
    detail: "more than 1000 bytes",
  },
  {
    name: "truncated IDX inside valid gzip",
    bytes: gzipSync(VALID_IMAGES.subarray(0, 20)),
    code: "IDX_TRUNCATED",
    detail: "the file has 20",
  },
];

describe("parseIdx errors", () => {
  it.each(ERROR_CASES)("rejects $name", ({ bytes, options, code, detail }) => {
    let caught: unknown;
    try {
      parseIdx(bytes, "sample-file.idx", options);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(DatasetError);
    const error = caught as DatasetError;
    expect(error.code).toBe(code);
    expect(error.name).toBe("DatasetError");
    expect(error.message).toContain("sample-file.idx");
    expect(error.message).toContain(detail);
  });
});
