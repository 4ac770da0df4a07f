import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gunzipSync } from "node:zlib";

import { DatasetError } from "./errors.ts";

/** The only IDX data type this package reads: unsigned byte. */
const IDX_TYPE_UNSIGNED_BYTE = 0x08;

/** The data types defined by the IDX format, by their type byte. */
const IDX_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x08, "unsigned byte"],
  [0x09, "signed byte"],
  [0x0b, "int16"],
  [0x0c, "int32"],
  [0x0d, "float32"],
  [0x0e, "float64"],
]);

const gunzipAsync = promisify(gunzip);

/** The contents of an IDX file of unsigned bytes. */
export interface IdxArray {
  dataType: "uint8";
  /** Size of each dimension, outermost first, e.g. `[10000, 28, 28]`. */
  shape: number[];
  /** The elements in row-major order, in a buffer of their own. */
  data: Uint8Array;
}

export interface ParseIdxOptions {
  /** Number of dimensions the file must have, e.g. 3 for images and 1 for labels. */
  expectedDimensions?: number;
  /**
   * Largest decompressed size in bytes accepted from a gzip file, so that a damaged or hostile
   * file cannot exhaust memory. Without it, the limit is Node's maximum buffer size.
   */
  maxBytes?: number;
}

/** A validated IDX header. */
interface IdxHeader {
  shape: number[];
  /** Byte offset of the first element: 4 bytes of magic number and 4 bytes per dimension. */
  dataOffset: number;
}

/**
 * Parses an IDX file of unsigned bytes, raw or gzip-compressed (detected by the gzip magic bytes
 * 1f 8b). Validates the magic number, the data type, the number of dimensions and the byte length
 * against the declared sizes before it allocates the result.
 *
 * @param fileName the name or path to put in error messages
 * @throws DatasetError with code IDX_BAD_GZIP, IDX_BAD_MAGIC, IDX_UNSUPPORTED_TYPE,
 *   IDX_BAD_DIMENSIONS, IDX_TRUNCATED or IDX_TOO_LONG
 */
export function parseIdx(
  bytes: Uint8Array,
  fileName: string,
  options: ParseIdxOptions = {},
): IdxArray {
  const raw = isGzip(bytes)
    ? gunzipIdxSync(bytes, fileName, options.maxBytes)
    : bytes;
  return parseRawIdx(raw, fileName, options.expectedDimensions);
}

/** Reads and parses an IDX file, raw or gzip-compressed, as `parseIdx` does. */
export async function readIdxFile(
  path: string,
  options: ParseIdxOptions = {},
): Promise<IdxArray> {
  const bytes = await readFile(path);
  const raw = await decompressIdx(bytes, path, options.maxBytes);
  return parseRawIdx(raw, path, options.expectedDimensions);
}

/** Returns whether the bytes start with the gzip magic bytes 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses the bytes when they are gzip data and returns them unchanged otherwise.
 *
 * @throws DatasetError IDX_BAD_GZIP for damaged gzip data, IDX_TOO_LONG past `maxBytes`
 */
export async function decompressIdx(
  bytes: Uint8Array,
  fileName: string,
  maxBytes?: number,
): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzipAsync(bytes, gunzipOptions(maxBytes));
  } catch (error) {
    throw gunzipError(error, fileName, maxBytes);
  }
}

/** Parses IDX bytes that are not compressed. */
export function parseRawIdx(
  bytes: Uint8Array,
  fileName: string,
  expectedDimensions?: number,
): IdxArray {
  const header = readIdxHeader(bytes, fileName, expectedDimensions);
  return {
    dataType: "uint8",
    shape: header.shape,
    // A copy through the Uint8Array constructor, because Buffer#slice would return a view.
    data: new Uint8Array(bytes.subarray(header.dataOffset)),
  };
}

function gunzipIdxSync(
  bytes: Uint8Array,
  fileName: string,
  maxBytes: number | undefined,
): Uint8Array {
  try {
    return gunzipSync(bytes, gunzipOptions(maxBytes));
  } catch (error) {
    throw gunzipError(error, fileName, maxBytes);
  }
}

function gunzipOptions(maxBytes: number | undefined): {
  maxOutputLength?: number;
} {
  return maxBytes === undefined ? {} : { maxOutputLength: maxBytes };
}

function gunzipError(
  error: unknown,
  fileName: string,
  maxBytes: number | undefined,
): DatasetError {
  const code = (error as { code?: unknown }).code;
  if (code === "ERR_BUFFER_TOO_LARGE" && maxBytes !== undefined) {
    return new DatasetError(
      "IDX_TOO_LONG",
      `${fileName}: decompresses to more than ${maxBytes} bytes, the largest size expected. ` +
        `Replace it with the official file.`,
      { cause: error },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new DatasetError(
    "IDX_BAD_GZIP",
    `${fileName}: invalid gzip data (${reason}). The file is damaged or incomplete; ` +
      `download or copy it again.`,
    { cause: error },
  );
}

/** Validates the header and the byte length of raw IDX bytes. */
function readIdxHeader(
  bytes: Uint8Array,
  fileName: string,
  expectedDimensions: number | undefined,
): IdxHeader {
  if (bytes.length < 4) {
    throw new DatasetError(
      "IDX_TRUNCATED",
      `${fileName}: ${bytes.length} bytes long, shorter than the 4-byte IDX magic number. ` +
        `The file is empty or incomplete; download or copy it again.`,
    );
  }

  const typeByte = bytes[2]!;
  const dimensionCount = bytes[3]!;
  const magicHex = hex(bytes.subarray(0, 4));
  const typeName = IDX_TYPE_NAMES.get(typeByte);
  if (bytes[0] !== 0 || bytes[1] !== 0 || typeName === undefined) {
    throw new DatasetError(
      "IDX_BAD_MAGIC",
      `${fileName}: invalid IDX magic number ${magicHex}. An IDX file starts with two zero ` +
        `bytes, a data type byte (0x08 to 0x0e) and a dimension count byte. ` +
        `Check that the path points at an MNIST-style IDX file, raw or gzip-compressed.`,
    );
  }
  if (typeByte !== IDX_TYPE_UNSIGNED_BYTE) {
    throw new DatasetError(
      "IDX_UNSUPPORTED_TYPE",
      `${fileName}: IDX data type 0x${hexByte(typeByte)} (${typeName}) is not supported; ` +
        `only 0x08 (unsigned byte), the type of the MNIST and Fashion-MNIST files, is.`,
    );
  }
  if (dimensionCount === 0) {
    throw new DatasetError(
      "IDX_BAD_DIMENSIONS",
      `${fileName}: the IDX header declares 0 dimensions. The file is damaged; replace it.`,
    );
  }
  if (
    expectedDimensions !== undefined &&
    dimensionCount !== expectedDimensions
  ) {
    throw new DatasetError(
      "IDX_BAD_DIMENSIONS",
      `${fileName}: the IDX header declares ${dimensionCount} dimensions, expected ` +
        `${expectedDimensions} (3 for an images file, 1 for a labels file). ` +
        `Check that the images and labels files are not swapped or renamed.`,
    );
  }

  const dataOffset = 4 + 4 * dimensionCount;
  if (bytes.length < dataOffset) {
    throw new DatasetError(
      "IDX_TRUNCATED",
      `${fileName}: truncated inside the IDX header, which needs ${dataOffset} bytes for ` +
        `${dimensionCount} dimensions, but the file has ${bytes.length}. ` +
        `Download or copy the file again.`,
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let elementCount = 1;
  for (let i = 0; i < dimensionCount; i++) {
    const size = view.getUint32(4 + 4 * i, false);
    shape.push(size);
    elementCount *= size;
  }

  // NOTE: elementCount is a float product and loses precision past 2^53, but any shape that
  // large exceeds every possible byte length, so the file is still reported as truncated.
  const expectedLength = dataOffset + elementCount;
  const shapeText = `[${shape.join(", ")}]`;
  if (bytes.length < expectedLength) {
    throw new DatasetError(
      "IDX_TRUNCATED",
      `${fileName}: truncated: the IDX header declares shape ${shapeText}, which needs ` +
        `${expectedLength} bytes, but the file has ${bytes.length}. ` +
        `The file is incomplete; download or copy it again.`,
    );
  }
  if (bytes.length > expectedLength) {
    throw new DatasetError(
      "IDX_TOO_LONG",
      `${fileName}: ${bytes.length - expectedLength} bytes longer than the ` +
        `${expectedLength} bytes that the IDX header's shape ${shapeText} needs. ` +
        `The file is damaged or has data appended; replace it.`,
    );
  }

  return { shape, dataOffset };
}

function hex(bytes: Uint8Array): string {
  return "0x" + Array.from(bytes, hexByte).join("");
}

function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
