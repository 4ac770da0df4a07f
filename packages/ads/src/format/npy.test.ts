import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.ts";
import { encodeNpy, parseNpy } from "./npy.ts";

// np.save(f, np.array([[1, 2, 3], [4, 5, -0.5]], dtype="<f4")) with numpy 2.4: a 128-byte header
// (magic, version 1.0, header length 118) followed by 24 bytes of data.
const NUMPY_2X3 =
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AAAAQAAAQEAAAIBAAACgQAAAAL8=";

function handMadeNpy(
  major: number,
  header: string,
  values: number[],
): Uint8Array {
  const headerBytes = new TextEncoder().encode(header);
  const lengthSize = major === 1 ? 2 : 4;
  const bytes = new Uint8Array(
    8 + lengthSize + headerBytes.length + values.length * 4,
  );
  const view = new DataView(bytes.buffer);
  bytes.set([0x93, ...new TextEncoder().encode("NUMPY"), major, 0]);
  if (lengthSize === 2) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  bytes.set(headerBytes, 8 + lengthSize);
  values.forEach((value, i) =>
    view.setFloat32(8 + lengthSize + headerBytes.length + i * 4, value, true),
  );
  return bytes;
}

function expectFormatError(run: () => unknown, pattern: RegExp): FormatError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FormatError);
  const error = caught as FormatError;
  expect(error.code).toBe("invalid-npy");
  expect(error.message).toMatch(/^maps\/ads\.npy: /);
  expect(error.message).toMatch(pattern);
  return error;
}

describe("encodeNpy", () => {
  it("writes the bytes numpy.save writes", () => {
    const bytes = encodeNpy({
      shape: [2, 3],
      data: new Float32Array([1, 2, 3, 4, 5, -0.5]),
    });
    expect(Buffer.from(bytes).toString("base64")).toBe(NUMPY_2X3);
  });

  it("aligns the data to 64 bytes for every rank", () => {
    for (const shape of [
      [],
      [5],
      [28, 28],
      [10, 28, 28],
      [0, 28, 28],
      [123456789, 0],
    ]) {
      const count = shape.reduce((product, size) => product * size, 1);
      const bytes = encodeNpy({ shape, data: new Float32Array(count) });
      const headerLength = bytes[8]! + bytes[9]! * 256;
      expect((10 + headerLength) % 64).toBe(0);
      expect(bytes[10 + headerLength - 1]).toBe(0x0a); // the header ends with "\n"
    }
  });

  it("round-trips shape and values through parseNpy", () => {
    const data = new Float32Array([
      0,
      -0,
      1.5,
      -2.25,
      Number.NaN,
      Infinity,
      -Infinity,
      3.4e38,
      1e-45,
    ]);
    const parsed = parseNpy(encodeNpy({ shape: [3, 3], data }), "a.npy");
    expect(parsed.shape).toEqual([3, 3]);
    expect(Array.from(parsed.data)).toEqual(Array.from(data));
    expect(Object.is(parsed.data[1], -0)).toBe(true);
  });

  it("round-trips a scalar and an empty array", () => {
    const scalar = parseNpy(
      encodeNpy({ shape: [], data: new Float32Array([7]) }),
      "s.npy",
    );
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([7]);
    const empty = parseNpy(
      encodeNpy({ shape: [0, 28, 28], data: new Float32Array(0) }),
      "e.npy",
    );
    expect(empty.shape).toEqual([0, 28, 28]);
    expect(empty.data.length).toBe(0);
  });

  it("rejects data that does not fit the shape", () => {
    expect(() =>
      encodeNpy({ shape: [2, 2], data: new Float32Array(3) }),
    ).toThrow(/has 4 values, but data has 3/);
    expect(() => encodeNpy({ shape: [-1], data: new Float32Array(0) })).toThrow(
      /invalid shape/,
    );
  });
});

describe("parseNpy", () => {
  it("reads numpy's bytes", () => {
    const parsed = parseNpy(
      new Uint8Array(Buffer.from(NUMPY_2X3, "base64")),
      "a.npy",
    );
    expect(parsed.shape).toEqual([2, 3]);
    expect(Array.from(parsed.data)).toEqual([1, 2, 3, 4, 5, -0.5]);
  });

  it("reads a hand-made version 1.0 header that is not aligned", () => {
    const bytes = handMadeNpy(
      1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n",
      [1.5, -2, 0.25],
    );
    const parsed = parseNpy(bytes, "a.npy");
    expect(parsed.shape).toEqual([3]);
    expect(Array.from(parsed.data)).toEqual([1.5, -2, 0.25]);
  });

  it("reads version 2.0 and 3.0 headers", () => {
    const header = `{"descr": "<f4", "fortran_order": False, "shape": (1, 2)}\n`;
    for (const major of [2, 3]) {
      const parsed = parseNpy(handMadeNpy(major, header, [4, 8]), "a.npy");
      expect(parsed.shape).toEqual([1, 2]);
      expect(Array.from(parsed.data)).toEqual([4, 8]);
    }
  });

  it("reads from a view with an odd byte offset", () => {
    const bytes = encodeNpy({ shape: [2], data: new Float32Array([1, 2]) });
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    const parsed = parseNpy(padded.subarray(3), "a.npy");
    expect(Array.from(parsed.data)).toEqual([1, 2]);
  });

  it("rejects big-endian data", () => {
    const bytes = handMadeNpy(
      1,
      "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n",
      [1],
    );
    expectFormatError(() => parseNpy(bytes, "maps/ads.npy"), /big-endian/);
  });

  it("rejects Fortran order", () => {
    const bytes = handMadeNpy(
      1,
      "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }\n",
      [1],
    );
    expectFormatError(
      () => parseNpy(bytes, "maps/ads.npy"),
      /Fortran order is not supported/,
    );
  });

  it("rejects other dtypes", () => {
    const bytes = handMadeNpy(
      1,
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n",
      [0, 0],
    );
    expectFormatError(
      () => parseNpy(bytes, "maps/ads.npy"),
      /dtype <f8 is not supported/,
    );
  });

  it("rejects truncated data", () => {
    const bytes = encodeNpy({ shape: [28, 28], data: new Float32Array(784) });
    expectFormatError(
      () => parseNpy(bytes.subarray(0, bytes.length - 4), "maps/ads.npy"),
      /truncated.*3136 bytes, found 3132/,
    );
  });

  it("rejects extra data", () => {
    const bytes = encodeNpy({ shape: [2], data: new Float32Array(2) });
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expectFormatError(
      () => parseNpy(longer, "maps/ads.npy"),
      /longer than its shape/,
    );
  });

  it("rejects a truncated header", () => {
    const bytes = encodeNpy({ shape: [2], data: new Float32Array(2) });
    expectFormatError(
      () => parseNpy(bytes.subarray(0, 40), "maps/ads.npy"),
      /truncated header/,
    );
  });

  it("rejects a file that is not .npy", () => {
    expectFormatError(
      () =>
        parseNpy(
          new TextEncoder().encode("PK\u0003\u0004 zip"),
          "maps/ads.npy",
        ),
      /magic string/,
    );
  });

  it("rejects an unknown format version", () => {
    const bytes = encodeNpy({ shape: [1], data: new Float32Array(1) });
    bytes[6] = 4;
    expectFormatError(
      () => parseNpy(bytes, "maps/ads.npy"),
      /version 4\.0 is not supported/,
    );
  });

  it("rejects a header without a shape", () => {
    const bytes = handMadeNpy(
      1,
      "{'descr': '<f4', 'fortran_order': False}\n",
      [],
    );
    expectFormatError(() => parseNpy(bytes, "maps/ads.npy"), /missing shape/);
  });
});
