import { describe, expect, it } from "vitest";
import {
  COLORMAP_STOPS,
  NAN_COLOR,
  colorAt,
  colormapPosition,
  divergingColor,
  sequentialColor,
  writeColormapRgba,
} from "./colormap.ts";

const WHITE = [255, 255, 255];
const BLUE_END = [5, 48, 97]; // #053061
const RED_END = [103, 0, 31]; // #67001f
const SEQUENTIAL_END = [103, 0, 13]; // #67000d

describe("divergingColor", () => {
  it("maps zero to white", () => {
    expect(divergingColor(0, 12.5)).toEqual(WHITE);
    expect(divergingColor(-0, 12.5)).toEqual(WHITE);
  });

  it("maps +max to the red end and -max to the blue end", () => {
    expect(divergingColor(12.5, 12.5)).toEqual(RED_END);
    expect(divergingColor(-12.5, 12.5)).toEqual(BLUE_END);
  });

  it("clips values beyond the range", () => {
    expect(divergingColor(40, 12.5)).toEqual(RED_END);
    expect(divergingColor(-40, 12.5)).toEqual(BLUE_END);
    expect(divergingColor(Infinity, 1)).toEqual(RED_END);
    expect(divergingColor(-Infinity, 1)).toEqual(BLUE_END);
  });

  it("maps NaN to mid grey", () => {
    expect(NAN_COLOR).toEqual([128, 128, 128]);
    expect(divergingColor(Number.NaN, 1)).toEqual(NAN_COLOR);
  });

  it("hits the control points in between", () => {
    // 11 stops: +0.6 of the range is position 0.8, stop 8 (#d6604d); -0.2 is stop 4 (#d1e5f0).
    expect(divergingColor(6, 10)).toEqual([214, 96, 77]);
    expect(divergingColor(-2, 10)).toEqual([209, 229, 240]);
  });

  it("interpolates between control points", () => {
    // +0.5 of the range lies halfway between #f4a582 and #d6604d.
    expect(divergingColor(5, 10)).toEqual([229, 131, 104]);
  });

  it("handles a range of zero", () => {
    expect(divergingColor(0, 0)).toEqual(WHITE);
    expect(divergingColor(0.1, 0)).toEqual(RED_END);
    expect(divergingColor(-0.1, 0)).toEqual(BLUE_END);
  });
});

describe("sequentialColor", () => {
  it("maps zero to white and max to the dark end", () => {
    expect(sequentialColor(0, 3)).toEqual(WHITE);
    expect(sequentialColor(3, 3)).toEqual(SEQUENTIAL_END);
  });

  it("clips below zero and above max", () => {
    expect(sequentialColor(-3, 3)).toEqual(WHITE);
    expect(sequentialColor(30, 3)).toEqual(SEQUENTIAL_END);
  });

  it("maps NaN to mid grey", () => {
    expect(sequentialColor(Number.NaN, 3)).toEqual(NAN_COLOR);
  });

  it("hits the middle control point", () => {
    expect(sequentialColor(1.5, 3)).toEqual(COLORMAP_STOPS.sequential[4]);
  });
});

describe("colormapPosition", () => {
  it("places the diverging range on [0, 1] with zero at 0.5", () => {
    expect(colormapPosition("diverging", -2, 2)).toBe(0);
    expect(colormapPosition("diverging", 0, 2)).toBe(0.5);
    expect(colormapPosition("diverging", 1, 2)).toBe(0.75);
    expect(colormapPosition("diverging", 9, 2)).toBe(1);
    expect(colormapPosition("sequential", 1, 2)).toBe(0.5);
    expect(colormapPosition("sequential", Number.NaN, 2)).toBeNaN();
  });
});

describe("colorAt", () => {
  it("returns the end stops at 0 and 1 and clips outside", () => {
    expect(colorAt("diverging", 0)).toEqual(BLUE_END);
    expect(colorAt("diverging", 1)).toEqual(RED_END);
    expect(colorAt("diverging", -1)).toEqual(BLUE_END);
    expect(colorAt("diverging", 2)).toEqual(RED_END);
  });
});

describe("writeColormapRgba", () => {
  it("writes four bytes per value with alpha 255", () => {
    const rgba = writeColormapRgba("diverging", [0, 1, -1, Number.NaN], 1);
    expect(Array.from(rgba)).toEqual([
      ...WHITE,
      255,
      ...RED_END,
      255,
      ...BLUE_END,
      255,
      ...NAN_COLOR,
      255,
    ]);
  });

  it("rejects a buffer that is too small", () => {
    expect(() =>
      writeColormapRgba("diverging", [0, 1], 1, new Uint8Array(7)),
    ).toThrow(/7 bytes, but 2 values need 8/);
  });
});
