import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PNG } from "pngjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { divergingColor, NAN_COLOR, type Rgb } from "../colormap.ts";
import { syntheticResult } from "../testing.ts";
import {
  figuresOf,
  formatTick,
  overlayColor,
  SINGLE_MAP_SCALE,
  symmetricRange,
  writeFigures,
  type FigureLayout,
} from "./figures.ts";
import { glyphPixel, textWidth } from "./font.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ads-figures-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Decodes a PNG file and returns a reader of its pixels. */
async function readPng(file: string): Promise<{
  width: number;
  height: number;
  at(x: number, y: number): Rgb;
}> {
  const png = PNG.sync.read(await readFile(file));
  return {
    width: png.width,
    height: png.height,
    at: (x, y) => {
      const offset = (y * png.width + x) * 4;
      return [png.data[offset]!, png.data[offset + 1]!, png.data[offset + 2]!];
    },
  };
}

/** Returns the centre of map cell (row, col) of panel `panel`. */
function cellCentre(
  layout: FigureLayout,
  panel: number,
  row: number,
  col: number,
): [number, number] {
  const [left, top] = layout.panelOrigins[panel]!;
  const half = Math.floor(layout.scale / 2);
  return [left + col * layout.scale + half, top + row * layout.scale + half];
}

describe("writeFigures", () => {
  it("writes four figures", async () => {
    const entries = await writeFigures(dir, syntheticResult());
    expect(entries.map((entry) => entry.file)).toEqual([
      "ads.png",
      "ads-overlay.png",
      "class-ads.png",
      "sample-maps.png",
    ]);
    for (const entry of entries) {
      const png = await readPng(path.join(dir, entry.file));
      expect(png.width).toBeGreaterThan(100);
    }
  });

  it("draws the dataset map upscaled", async () => {
    const result = syntheticResult();
    await writeFigures(dir, result);
    const png = await readPng(path.join(dir, "ads.png"));
    const layout = figuresOf(result)[0]!.layout;
    expect(layout.scale).toBe(SINGLE_MAP_SCALE);
    const range = symmetricRange(result.ads);
    expect(range).toBe(17); // ads = col - 10 for col in 0..27
    for (const [row, col] of [
      [0, 0],
      [5, 10],
      [27, 27],
      [13, 3],
    ] as const) {
      const [x, y] = cellCentre(layout, 0, row, col);
      expect(png.at(x, y)).toEqual(
        divergingColor(result.ads[row * 28 + col]!, range),
      );
    }
    // Column 10 is zero, which is white; all pixels of a cell share its colour.
    const [left, top] = layout.panelOrigins[0]!;
    for (let dy = 0; dy < SINGLE_MAP_SCALE; dy++) {
      expect(png.at(left + 10 * SINGLE_MAP_SCALE + 9, top + dy)).toEqual([
        255, 255, 255,
      ]);
    }
    expect(png.at(...cellCentre(layout, 0, 0, 27))).toEqual([103, 0, 31]);
  });

  it("draws a blue-to-red colorbar", async () => {
    const result = syntheticResult();
    await writeFigures(dir, result);
    const png = await readPng(path.join(dir, "ads.png"));
    const { colorbar, maxAbs } = figuresOf(result)[0]!.layout;
    const x = colorbar.x + Math.floor(colorbar.width / 2);
    const valueAt = (row: number) =>
      maxAbs * (1 - (2 * (row + 0.5)) / colorbar.height);
    expect(png.at(x, colorbar.y)).toEqual(divergingColor(valueAt(0), maxAbs));
    const last = colorbar.height - 1;
    expect(png.at(x, colorbar.y + last)).toEqual(
      divergingColor(valueAt(last), maxAbs),
    );
    expect(png.at(x, colorbar.y)[0]).toBeGreaterThan(png.at(x, colorbar.y)[2]);
    expect(png.at(x, colorbar.y + last)[2]).toBeGreaterThan(
      png.at(x, colorbar.y + last)[0],
    );
  });

  it("labels the colorbar ticks", async () => {
    const result = syntheticResult();
    await writeFigures(dir, result);
    const png = await readPng(path.join(dir, "ads.png"));
    const { colorbar } = figuresOf(result)[0]!.layout;
    // The top label "17" starts right of the tick; its first glyph "1" has ink at column 1, row 0.
    const labelLeft = colorbar.x + colorbar.width + 4 + 4;
    const labelTop = Math.max(colorbar.y - 5, 0);
    expect(glyphPixel("1", 1, 0)).toBe(true);
    expect(png.at(labelLeft + 2, labelTop)).toEqual([0, 0, 0]);
    expect(textWidth(formatTick(-17), 2)).toBeGreaterThan(textWidth("17", 2));
  });

  it("blends the map over samples", async () => {
    const result = syntheticResult();
    await writeFigures(dir, result);
    const png = await readPng(path.join(dir, "ads-overlay.png"));
    const layout = figuresOf(result)[1]!.layout;
    const range = symmetricRange(result.ads);
    for (const slot of [0, 2]) {
      const [x, y] = cellCentre(layout, slot, 4, 20);
      const expected = overlayColor(
        slot / 4,
        divergingColor(result.ads[4 * 28 + 20]!, range),
      );
      expect(png.at(x, y)).toEqual(expected);
    }
    // Sample 2's pixels are 0.5 gray and ADS 0 is white: (128 + 255) / 2 rounds to 192.
    expect(overlayColor(0.5, [255, 255, 255])).toEqual([192, 192, 192]);
  });

  it("draws class maps on one scale", async () => {
    const result = syntheticResult();
    await writeFigures(dir, result);
    const png = await readPng(path.join(dir, "class-ads.png"));
    const layout = figuresOf(result)[2]!.layout;
    expect(layout.maxAbs).toBe(2); // (label - 4) * 0.5 for labels 0..8
    expect(png.at(...cellCentre(layout, 0, 3, 3))).toEqual(
      divergingColor(-2, 2),
    );
    expect(png.at(...cellCentre(layout, 4, 3, 3))).toEqual([255, 255, 255]);
    expect(png.at(...cellCentre(layout, 8, 3, 3))).toEqual(
      divergingColor(2, 2),
    );
    expect(png.at(...cellCentre(layout, 9, 3, 3))).toEqual([...NAN_COLOR]);
    // Classes 5..9 sit in the second row of the grid.
    expect(layout.panelOrigins[5]![1]).toBeGreaterThan(
      layout.panelOrigins[4]![1],
    );
  });
});

describe("formatTick", () => {
  it.each([
    [0, "0"],
    [17, "17"],
    [-2.5, "-2.5"],
    [0.045123, "0.0451"],
    [123456, "123000"],
  ])("formats %f as %s", (value, text) => {
    expect(formatTick(value)).toBe(text);
  });
});
