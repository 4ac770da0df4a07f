import { describe, expect, it } from "vitest";

import {
  gridCenters,
  windowGrid,
  windowSpan,
  windowValuesToMap,
} from "./windows.ts";

describe("windowSpan", () => {
  it.each([
    // [center, windowSize, size, expected [start, end)]
    [5, 3, 28, [4, 7]],
    [0, 3, 28, [0, 2]],
    [27, 3, 28, [26, 28]],
    [5, 1, 28, [5, 6]],
    [5, 4, 28, [3, 7]],
    [0, 4, 28, [0, 2]],
    [27, 4, 28, [25, 28]],
    [5, 2, 28, [4, 6]],
    [0, 2, 28, [0, 1]],
    [14, 28, 28, [0, 28]],
  ])("centre %i, k = %i, size %i covers %j", (center, k, size, expected) => {
    expect(windowSpan(center, k, size)).toEqual(expected);
  });
});

describe("gridCenters", () => {
  it("starts at 0 and stays below the size", () => {
    expect(gridCenters(28, 1)).toHaveLength(28);
    expect(gridCenters(28, 3)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    expect(gridCenters(28, 5)).toEqual([0, 5, 10, 15, 20, 25]);
  });
});

describe("windowGrid", () => {
  it("numbers windows in row-major grid order", () => {
    const grid = windowGrid([28, 28], 3, 3);
    expect(grid.gridShape).toEqual([10, 10]);
    expect(grid.windows).toHaveLength(100);
    const window = grid.windows[12]!;
    expect(window.index).toBe(12);
    expect([window.gridRow, window.gridCol]).toEqual([1, 2]);
    expect([window.centerRow, window.centerCol]).toEqual([3, 6]);
  });

  it("clips covered pixels at the border", () => {
    const grid = windowGrid([28, 28], 3, 1);
    expect(Array.from(grid.windows[0]!.pixels)).toEqual([0, 1, 28, 29]);
    expect(Array.from(grid.windows[28 * 10 + 27]!.pixels)).toEqual([
      9 * 28 + 26,
      9 * 28 + 27,
      10 * 28 + 26,
      10 * 28 + 27,
      11 * 28 + 26,
      11 * 28 + 27,
    ]);
  });

  it("excludes protected label pixels", () => {
    const grid = windowGrid([28, 28], 3, 1, 10);
    expect(Array.from(grid.windows[0]!.pixels)).toEqual([28, 29]);
    expect(Array.from(grid.windows[5]!.pixels)).toEqual([32, 33, 34]);
    for (const window of grid.windows) {
      for (const pixel of window.pixels)
        expect(pixel).toBeGreaterThanOrEqual(10);
    }
    // A 1 x 1 window on a label pixel covers nothing that occlusion may change.
    const single = windowGrid([28, 28], 1, 1, 10);
    for (let pixel = 0; pixel < 10; pixel++) {
      expect(single.windows[pixel]!.pixels).toHaveLength(0);
    }
    expect(Array.from(single.windows[10]!.pixels)).toEqual([10]);
  });
});

describe("windowValuesToMap", () => {
  it("uses each window's value at stride 1", () => {
    const grid = windowGrid([4, 4], 3, 1);
    const values = Array.from({ length: 16 }, (_, i) => i * 10);
    expect(Array.from(windowValuesToMap(grid, values))).toEqual(values);
  });

  it("averages covering windows at larger strides", () => {
    // Centres (0,0), (0,2), (2,0), (2,2) with 3 x 3 windows on a 4 x 4 image.
    const grid = windowGrid([4, 4], 3, 2);
    const map = windowValuesToMap(grid, [1, 2, 3, 4]);
    const at = (row: number, col: number) => map[row * 4 + col];
    expect(at(0, 0)).toBe(1); // window (0,0) only
    expect(at(0, 1)).toBe(1.5); // (0,0) and (0,2)
    expect(at(0, 3)).toBe(2); // (0,2) only
    expect(at(1, 0)).toBe(2); // (0,0) and (2,0)
    expect(at(1, 1)).toBe(2.5); // all four
    expect(at(3, 1)).toBe(3.5); // (2,0) and (2,2)
    expect(at(3, 3)).toBe(4); // (2,2) only
  });

  it("places an even window k/2 before", () => {
    // k = 2, stride 2 on a 4 x 4 image: centre 0 covers [0, 1), centre 2 covers [1, 3).
    const grid = windowGrid([4, 4], 2, 2);
    const map = windowValuesToMap(grid, [1, 2, 3, 4]);
    const at = (row: number, col: number) => map[row * 4 + col];
    expect(at(0, 0)).toBe(1);
    expect(at(0, 1)).toBe(2);
    expect(at(1, 1)).toBe(4);
    expect(at(2, 0)).toBe(3);
    expect(at(0, 3)).toBeNaN(); // column 3 is in no window
    expect(at(3, 0)).toBeNaN();
  });

  it("marks uncovered pixels NaN", () => {
    const grid = windowGrid([4, 4], 1, 3);
    const map = windowValuesToMap(grid, [1, 2, 3, 4]);
    expect(map[0]).toBe(1);
    expect(map[3]).toBe(2);
    expect(map[12]).toBe(3);
    expect(map[15]).toBe(4);
    expect(map[5]).toBeNaN();
  });

  it("rejects a wrong value count", () => {
    expect(() => windowValuesToMap(windowGrid([4, 4], 3, 2), [1, 2])).toThrow(
      /expected 4 window values, got 2/,
    );
  });
});
