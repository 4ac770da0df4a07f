import { FormatError } from "./errors.ts";

/** A float32 array with its shape, in C (row-major) order. */
export interface Float32NdArray {
  shape: number[];
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const MAGIC_LENGTH = 8; // the magic string plus the major and minor version bytes

// numpy aligns the start of the data to 64 bytes. It also pads the header so that the first
// dimension can grow to 21 digits in place. Copying both makes the bytes equal to np.save output.
const ARRAY_ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

/**
 * Parses a NumPy .npy file that contains little-endian float32 (`<f4`) data in C order.
 *
 * Reads format versions 1.0, 2.0 and 3.0. Rejects every other dtype, big-endian data, Fortran
 * order and a data section whose length does not match the shape. `file` names the file in errors.
 */
export function parseNpy(bytes: Uint8Array, file: string): Float32NdArray {
  const { header, dataOffset } = readHeader(bytes, file);
  const { descr, fortranOrder, shape } = parseHeaderDict(header, file);

  if (descr !== "<f4") {
    const problem =
      descr === ">f4"
        ? "big-endian float32 (>f4) is not supported; save the array as little-endian <f4"
        : `dtype ${descr} is not supported; expected little-endian float32 (<f4)`;
    throw new FormatError("invalid-npy", file, problem);
  }
  if (fortranOrder) {
    throw new FormatError(
      "invalid-npy",
      file,
      "Fortran order is not supported; save the array in C order (np.ascontiguousarray)",
    );
  }

  const count = shape.reduce((product, size) => product * size, 1);
  const expectedBytes = count * 4;
  const actualBytes = bytes.length - dataOffset;
  if (actualBytes !== expectedBytes) {
    const what =
      actualBytes < expectedBytes ? "truncated" : "longer than its shape";
    throw new FormatError(
      "invalid-npy",
      file,
      `data is ${what}: shape (${shape.join(", ")}) needs ${expectedBytes} bytes, found ${actualBytes}`,
    );
  }

  // DataView reads little-endian on any host and at any byte offset.
  const view = new DataView(
    bytes.buffer,
    bytes.byteOffset + dataOffset,
    expectedBytes,
  );
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  return { shape, data };
}

/**
 * Encodes a float32 array as a NumPy .npy version 1.0 file, little-endian `<f4` in C order,
 * with the same header bytes that `numpy.save` writes (compared with numpy 2.4 in npy.test.ts).
 */
export function encodeNpy(array: Float32NdArray): Uint8Array {
  const { shape, data } = array;
  const count = shape.reduce((product, size) => product * size, 1);
  if (shape.some((size) => !Number.isInteger(size) || size < 0)) {
    throw new RangeError(
      `invalid shape [${shape.join(", ")}]: sizes must be integers >= 0`,
    );
  }
  if (count !== data.length) {
    throw new RangeError(
      `shape [${shape.join(", ")}] has ${count} values, but data has ${data.length}`,
    );
  }

  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${pythonTuple(shape)}, }`;
  if (shape.length > 0)
    dict += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  // numpy pads with 1 to 64 spaces, never 0, so a header that is already aligned gains 64.
  const unpadded = MAGIC_LENGTH + 2 + dict.length + 1;
  const padding = ARRAY_ALIGN - (unpadded % ARRAY_ALIGN);
  const header = dict + " ".repeat(padding) + "\n";
  if (header.length > 0xffff) {
    throw new RangeError(
      `shape [${shape.join(", ")}] needs a header longer than .npy version 1.0 allows`,
    );
  }

  const bytes = new Uint8Array(
    MAGIC_LENGTH + 2 + header.length + data.length * 4,
  );
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  bytes[6] = 1; // major version
  bytes[7] = 0; // minor version
  view.setUint16(MAGIC_LENGTH, header.length, true);
  for (let i = 0; i < header.length; i++)
    bytes[MAGIC_LENGTH + 2 + i] = header.charCodeAt(i);
  const dataOffset = MAGIC_LENGTH + 2 + header.length;
  for (let i = 0; i < data.length; i++)
    view.setFloat32(dataOffset + i * 4, data[i]!, true);
  return bytes;
}

function pythonTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

function readHeader(
  bytes: Uint8Array,
  file: string,
): { header: string; dataOffset: number } {
  if (
    bytes.length < MAGIC_LENGTH + 2 ||
    MAGIC.some((byte, i) => bytes[i] !== byte)
  ) {
    throw new FormatError(
      "invalid-npy",
      file,
      "not a .npy file (the magic string \\x93NUMPY is missing)",
    );
  }

  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lengthSize: number;
  if (major === 1) lengthSize = 2;
  else if (major === 2 || major === 3) lengthSize = 4;
  else {
    throw new FormatError(
      "invalid-npy",
      file,
      `.npy format version ${major}.${bytes[7]} is not supported; expected 1.0, 2.0 or 3.0`,
    );
  }
  if (bytes.length < MAGIC_LENGTH + lengthSize) {
    throw new FormatError("invalid-npy", file, "truncated header");
  }

  const headerLength =
    lengthSize === 2
      ? view.getUint16(MAGIC_LENGTH, true)
      : view.getUint32(MAGIC_LENGTH, true);
  const headerStart = MAGIC_LENGTH + lengthSize;
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length) {
    throw new FormatError(
      "invalid-npy",
      file,
      `truncated header: it declares ${headerLength} bytes, but the file ends after ${bytes.length - headerStart}`,
    );
  }

  // Versions 1.0 and 2.0 store the header in latin-1, version 3.0 in UTF-8.
  const headerBytes = bytes.subarray(headerStart, dataOffset);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    headerBytes,
  );
  return { header, dataOffset };
}

interface HeaderDict {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (28, 28), }.
// These patterns read the three keys that numpy defines, with either quote style.
const DESCR_PATTERN = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/;
const FORTRAN_PATTERN = /['"]fortran_order['"]\s*:\s*(True|False)/;
const SHAPE_PATTERN = /['"]shape['"]\s*:\s*\(([^)]*)\)/;

function parseHeaderDict(header: string, file: string): HeaderDict {
  const descr = DESCR_PATTERN.exec(header)?.[1];
  const fortranOrder = FORTRAN_PATTERN.exec(header)?.[1];
  const shapeText = SHAPE_PATTERN.exec(header)?.[1];
  if (
    descr === undefined ||
    fortranOrder === undefined ||
    shapeText === undefined
  ) {
    const missing = [
      descr === undefined ? "descr" : null,
      fortranOrder === undefined ? "fortran_order" : null,
      shapeText === undefined ? "shape" : null,
    ].filter((key) => key !== null);
    throw new FormatError(
      "invalid-npy",
      file,
      `invalid header ${JSON.stringify(header.trim())}: missing ${missing.join(", ")}`,
    );
  }

  const shape: number[] = [];
  for (const part of shapeText.split(",")) {
    const text = part.trim();
    if (text === "") continue; // the trailing comma of a one-element tuple
    if (!/^\d+$/.test(text)) {
      throw new FormatError(
        "invalid-npy",
        file,
        `invalid shape (${shapeText}) in the header`,
      );
    }
    shape.push(Number(text));
  }
  return { descr, fortranOrder: fortranOrder === "True", shape };
}
