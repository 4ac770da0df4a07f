/**
 * PNG figures of an ADS result, drawn without a browser: the dataset-level map, the map over the
 * sample images, one map per class, and the samples' goodness-margin maps. Maps use the shared
 * diverging colormap centred on zero, upscaled by nearest neighbour, with a labelled colorbar.
 */
import path from "node:path";

import { writeFileAtomic } from "@ffads/ff-core";

import { divergingColor, type Rgb } from "../colormap.ts";
import type { FigureEntry } from "../format/manifest.ts";
import type { AdsResult } from "../run.ts";
import { textHeight, textWidth } from "./font.ts";
import { Raster } from "./raster.ts";

/** Image pixels per map pixel in a figure with one map. */
export const SINGLE_MAP_SCALE = 10;
/** Image pixels per map pixel in a grid of maps. */
export const GRID_MAP_SCALE = 5;
/** Weight of the colormap colour when a map is drawn over a grayscale image. */
export const OVERLAY_WEIGHT = 0.5;

const PADDING = 10;
const TEXT_SCALE = 2;
const GAP = 12;
const COLORBAR_WIDTH = 16;
const TICK_LENGTH = 4;
const GRID_COLUMNS = 10;
const CLASS_GRID_COLUMNS = 5;
const BACKGROUND: Rgb = [255, 255, 255];
const INK: Rgb = [0, 0, 0];

/** One map in a figure: a title and the colour of each cell. */
export interface Panel {
  title: string;
  rows: number;
  cols: number;
  colorOf(row: number, col: number): Rgb;
}

/** Positions of a rendered figure's parts, in raster pixels. */
export interface FigureLayout {
  /** Top-left corner of each panel's map. */
  panelOrigins: [number, number][];
  scale: number;
  colorbar: { x: number; y: number; width: number; height: number };
  /** The value at the top of the colorbar; the bottom is its negative. */
  maxAbs: number;
}

/**
 * Draws panels in a grid of `columns`, with a figure title and a vertical colorbar from -maxAbs
 * (bottom, blue) to +maxAbs (top, red) labelled at both ends and at zero.
 */
export function renderPanels(
  panels: Panel[],
  options: { title: string; columns: number; scale: number; maxAbs: number },
): { raster: Raster; layout: FigureLayout } {
  const { scale, maxAbs } = options;
  const lineHeight = textHeight(TEXT_SCALE);
  const columns = Math.max(1, Math.min(options.columns, panels.length));
  const gridRows = Math.ceil(panels.length / columns);
  const panelWidth = Math.max(
    ...panels.map((panel) => panel.cols * scale),
    ...panels.map((panel) => textWidth(panel.title, TEXT_SCALE)),
  );
  const panelHeight = Math.max(...panels.map((panel) => panel.rows * scale));
  const cellHeight = lineHeight + 4 + panelHeight;
  const gridTop = PADDING + lineHeight + GAP;
  const gridWidth = columns * panelWidth + (columns - 1) * GAP;
  const gridHeight = gridRows * cellHeight + (gridRows - 1) * GAP;

  const tickLabels = [maxAbs, 0, -maxAbs].map(formatTick);
  const labelWidth = Math.max(
    ...tickLabels.map((label) => textWidth(label, TEXT_SCALE)),
  );
  const colorbar = {
    x: PADDING + gridWidth + 2 * GAP,
    y: gridTop + lineHeight + 4,
    width: COLORBAR_WIDTH,
    height: gridHeight - lineHeight - 4,
  };
  const width = Math.max(
    colorbar.x + COLORBAR_WIDTH + TICK_LENGTH + 4 + labelWidth + PADDING,
    PADDING + textWidth(options.title, TEXT_SCALE) + PADDING,
  );
  const height = gridTop + gridHeight + PADDING;
  const raster = new Raster(width, height, BACKGROUND);

  raster.drawText(PADDING, PADDING, options.title, INK, TEXT_SCALE);
  const panelOrigins: [number, number][] = panels.map((panel, index) => {
    const left = PADDING + (index % columns) * (panelWidth + GAP);
    const top = gridTop + Math.floor(index / columns) * (cellHeight + GAP);
    raster.drawText(left, top, panel.title, INK, TEXT_SCALE);
    const mapTop = top + lineHeight + 4;
    raster.drawCells(
      left,
      mapTop,
      panel.rows,
      panel.cols,
      scale,
      panel.colorOf,
    );
    return [left, mapTop];
  });

  drawColorbar(raster, colorbar, maxAbs, tickLabels);
  return {
    raster,
    layout: { panelOrigins, scale, colorbar, maxAbs },
  };
}

/**
 * Writes the figures of `result` into `dir` as PNG files, each atomically, and returns their
 * manifest entries.
 */
export async function writeFigures(
  dir: string,
  result: AdsResult,
): Promise<FigureEntry[]> {
  const figures = figuresOf(result);
  for (const figure of figures) {
    await writeFileAtomic(path.join(dir, figure.file), figure.raster.toPng());
  }
  return figures.map(({ file, kind, title }) => ({ file, kind, title }));
}

/** Renders the figures of `result` in memory. */
export function figuresOf(
  result: AdsResult,
): (FigureEntry & { raster: Raster; layout: FigureLayout })[] {
  const [rows, cols] = result.imageShape;
  const size = rows * cols;
  const figures: (FigureEntry & { raster: Raster; layout: FigureLayout })[] =
    [];
  const adsRange = symmetricRange(result.ads);

  const single = renderPanels(
    [
      {
        title: "",
        rows,
        cols,
        colorOf: (row, col) =>
          divergingColor(result.ads[row * cols + col]!, adsRange),
      },
    ],
    {
      title: "ADS, ACCURACY POINTS",
      columns: 1,
      scale: SINGLE_MAP_SCALE,
      maxAbs: adsRange,
    },
  );
  figures.push({
    file: "ads.png",
    kind: "ads",
    title: "Dataset-level ADS map, in accuracy points",
    ...single,
  });

  if (result.samples.length > 0) {
    const overlay = renderPanels(
      result.samples.map((sample, slot) => ({
        title: sampleTitle(sample.label, sample.prediction),
        rows,
        cols,
        colorOf: (row, col) =>
          overlayColor(
            result.sampleImages[slot * size + row * cols + col]!,
            divergingColor(result.ads[row * cols + col]!, adsRange),
          ),
      })),
      {
        title: "ADS OVER SAMPLES, ACCURACY POINTS",
        columns: GRID_COLUMNS,
        scale: GRID_MAP_SCALE,
        maxAbs: adsRange,
      },
    );
    figures.push({
      file: "ads-overlay.png",
      kind: "ads-overlay",
      title: "Dataset-level ADS map over the sample images, in accuracy points",
      ...overlay,
    });
  }

  const classRange = symmetricRange(result.classAds);
  const classGrid = renderPanels(
    result.classNames.map((name, label) => ({
      title: name,
      rows,
      cols,
      colorOf: (row, col) =>
        divergingColor(
          result.classAds[label * size + row * cols + col]!,
          classRange,
        ),
    })),
    {
      title: "ADS PER CLASS, ACCURACY POINTS",
      columns: CLASS_GRID_COLUMNS,
      scale: GRID_MAP_SCALE,
      maxAbs: classRange,
    },
  );
  figures.push({
    file: "class-ads.png",
    kind: "class-ads",
    title: "ADS map of each class, in accuracy points",
    ...classGrid,
  });

  if (result.samples.length > 0) {
    const marginRange = symmetricRange(result.sampleMaps);
    const margins = renderPanels(
      result.samples.map((sample, slot) => ({
        title: sampleTitle(sample.label, sample.prediction),
        rows,
        cols,
        colorOf: (row, col) =>
          overlayColor(
            result.sampleImages[slot * size + row * cols + col]!,
            divergingColor(
              result.sampleMaps[slot * size + row * cols + col]!,
              marginRange,
            ),
          ),
      })),
      {
        title: "GOODNESS MARGIN DROP PER SAMPLE",
        columns: GRID_COLUMNS,
        scale: GRID_MAP_SCALE,
        maxAbs: marginRange,
      },
    );
    figures.push({
      file: "sample-maps.png",
      kind: "sample-maps",
      title:
        "Drop of the true label's goodness margin per window, over each sample image",
      ...margins,
    });
  }
  return figures;
}

/**
 * Blends a colormap colour over a grayscale raw pixel value in [0, 1]:
 * round((1 - OVERLAY_WEIGHT) * gray + OVERLAY_WEIGHT * color) per channel.
 */
export function overlayColor(pixel: number, color: Rgb): Rgb {
  const gray = Math.round(Math.min(1, Math.max(0, pixel)) * 255);
  const blend = (channel: number) =>
    Math.round((1 - OVERLAY_WEIGHT) * gray + OVERLAY_WEIGHT * channel);
  return [blend(color[0]), blend(color[1]), blend(color[2])];
}

/** Returns the largest absolute finite value, or 1 when there is none above zero. */
export function symmetricRange(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) {
    const value = Math.abs(values[i]!);
    if (Number.isFinite(value) && value > largest) largest = value;
  }
  return largest > 0 ? largest : 1;
}

/** Formats a tick value with at most 3 significant digits, e.g. 12.3, 0.0451, -2. */
export function formatTick(value: number): string {
  if (value === 0) return "0";
  return String(Number(value.toPrecision(3)));
}

function sampleTitle(label: number, prediction: number): string {
  return `${label}>${prediction}`;
}

function drawColorbar(
  raster: Raster,
  bar: FigureLayout["colorbar"],
  maxAbs: number,
  tickLabels: string[],
): void {
  for (let row = 0; row < bar.height; row++) {
    // Row 0 is +maxAbs and the last row -maxAbs, sampled at the row centre.
    const value = maxAbs * (1 - (2 * (row + 0.5)) / bar.height);
    raster.fillRect(
      bar.x,
      bar.y + row,
      bar.width,
      1,
      divergingColor(value, maxAbs),
    );
  }
  raster.strokeRect(bar.x - 1, bar.y - 1, bar.width + 2, bar.height + 2, INK);
  const lineHeight = textHeight(TEXT_SCALE);
  const tickRows = [0, Math.floor(bar.height / 2), bar.height - 1];
  tickRows.forEach((row, i) => {
    const y = bar.y + row;
    raster.fillRect(bar.x + bar.width, y, TICK_LENGTH, 1, INK);
    const labelTop = Math.min(
      Math.max(y - Math.floor(lineHeight / 2), 0),
      raster.height - lineHeight,
    );
    raster.drawText(
      bar.x + bar.width + TICK_LENGTH + 4,
      labelTop,
      tickLabels[i]!,
      INK,
      TEXT_SCALE,
    );
  });
}
