import { divergingColor, sequentialColor } from "@ffads/ads/format";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SETTINGS,
  colorRange,
  colorbarTicks,
  displayValue,
  formatFloat32,
  formatPercent,
  formatTick,
  mapAt,
  mapRanges,
  percentileOfSorted,
  renderMapPixels,
  widestRanges,
  type DisplaySettings,
} from "./display.ts";

const settings = (changes: Partial<DisplaySettings> = {}): DisplaySettings => ({
  ...DEFAULT_SETTINGS,
  ...changes,
});

describe("displayValue", () => {
  it("applies each sign filter", () => {
    const cases: [DisplaySettings["sign"], number, number][] = [
      ["all", -3, -3],
      ["all", 2, 2],
      ["positive", -3, 0],
      ["positive", 2, 2],
      ["negative", -3, -3],
      ["negative", 2, 0],
      ["absolute", -3, 3],
      ["absolute", 2, 2],
    ];
    for (const [sign, value, expected] of cases) {
      expect(displayValue(value, { colormap: "diverging", sign })).toBe(
        expected,
      );
    }
  });

  it("shows magnitudes with the sequential colormap", () => {
    expect(displayValue(-3, { colormap: "sequential", sign: "all" })).toBe(3);
    expect(displayValue(-3, { colormap: "sequential", sign: "positive" })).toBe(
      0,
    );
  });

  it("keeps NaN", () => {
    expect(
      displayValue(Number.NaN, { colormap: "diverging", sign: "positive" }),
    ).toBeNaN();
  });
});

describe("percentileOfSorted", () => {
  it("interpolates between ranks like numpy", () => {
    // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 100]) is [1, 2.5, 3.7, 4].
    expect(percentileOfSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(percentileOfSorted([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentileOfSorted([1, 2, 3, 4], 90)).toBeCloseTo(3.7, 12);
    expect(percentileOfSorted([1, 2, 3, 4], 100)).toBe(4);
    expect(percentileOfSorted([], 50)).toBeNaN();
  });
});

describe("colorRange", () => {
  it("takes the max magnitude at percentile 100", () => {
    expect(colorRange([[1, -7, Number.NaN], [3]], settings())).toBe(7);
  });

  it("clips at a lower percentile", () => {
    const values = Array.from({ length: 101 }, (_, i) =>
      i % 2 === 0 ? i : -i,
    );
    expect(colorRange([values], settings({ clipPercentile: 90 }))).toBe(90);
  });

  it("follows the sign filter", () => {
    expect(colorRange([[1, -7, 3]], settings({ sign: "positive" }))).toBe(3);
  });

  it("returns 0 without finite values", () => {
    expect(colorRange([[Number.NaN]], settings())).toBe(0);
  });
});

describe("renderMapPixels", () => {
  it("colours each value without an image", () => {
    const pixels = renderMapPixels([0, 2, -2, 1], 2, settings());
    expect(Array.from(pixels.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    expect(Array.from(pixels.subarray(4, 8))).toEqual([
      ...divergingColor(2, 2),
      255,
    ]);
    expect(Array.from(pixels.subarray(8, 12))).toEqual([
      ...divergingColor(-2, 2),
      255,
    ]);
    expect(Array.from(pixels.subarray(12, 16))).toEqual([
      ...divergingColor(1, 2),
      255,
    ]);
  });

  it("blends the map over the image with the opacity", () => {
    const pixels = renderMapPixels(
      [2, 2],
      2,
      settings({ opacity: 0.25 }),
      [1, 0],
    );
    const [red, green, blue] = divergingColor(2, 2);
    expect(Array.from(pixels.subarray(0, 4))).toEqual([
      Math.round(0.75 * 255 + 0.25 * red),
      Math.round(0.75 * 255 + 0.25 * green),
      Math.round(0.75 * 255 + 0.25 * blue),
      255,
    ]);
    expect(Array.from(pixels.subarray(4, 8))).toEqual([
      Math.round(0.25 * red),
      Math.round(0.25 * green),
      Math.round(0.25 * blue),
      255,
    ]);
  });

  it("uses the sequential colormap on magnitudes", () => {
    const pixels = renderMapPixels(
      [-2],
      2,
      settings({ colormap: "sequential" }),
    );
    expect(Array.from(pixels.subarray(0, 3))).toEqual([
      ...sequentialColor(2, 2),
    ]);
  });
});

describe("formatFloat32", () => {
  it("prints the shortest text that reads back as the float32", () => {
    expect(formatFloat32(Math.fround(0.1))).toBe("0.1");
    expect(formatFloat32(Math.fround(-12.345))).toBe("-12.345");
    expect(formatFloat32(Math.fround(1 / 3))).toBe("0.33333334");
    expect(formatFloat32(20)).toBe("20");
    expect(formatFloat32(Number.NaN)).toBe("NaN");
  });
});

describe("formatting", () => {
  it("formats ticks and percentages", () => {
    expect(formatTick(0)).toBe("0");
    expect(formatTick(12.3456)).toBe("+12.3");
    expect(formatTick(-0.5)).toBe("-0.5");
    expect(formatPercent(0.9254)).toBe("92.5%");
    expect(formatPercent(Number.NaN)).toBe("n/a");
  });

  it("places colorbar ticks symmetrically for diverging maps", () => {
    expect(colorbarTicks("diverging", 4)).toEqual([-4, -2, 0, 2, 4]);
    expect(colorbarTicks("sequential", 4)).toEqual([0, 2, 4]);
  });
});

describe("mapRanges", () => {
  it("computes one range per group and the widest of several", () => {
    const arrays = {
      ads: { data: Float32Array.from([1, -4]) },
      classAds: { data: Float32Array.from([2, 3]) },
      sampleMaps: { data: Float32Array.from([0.5]) },
    };
    const own = mapRanges(arrays, settings());
    expect(own).toEqual({ ads: 4, classAds: 3, sampleMaps: 0.5 });
    expect(
      widestRanges([own, { ads: 1, classAds: 6, sampleMaps: 0.25 }]),
    ).toEqual({
      ads: 4,
      classAds: 6,
      sampleMaps: 0.5,
    });
  });

  it("slices a stack of maps", () => {
    const stack = Float32Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(mapAt(stack, 2, 2, 2))).toEqual([8, 9, 10, 11]);
  });
});
