/**
 * End-to-end test on a real run: train a small model and measure its ADS maps through the CLI,
 * build the viewer with `ff view`, open it from file:// in Chromium, and compare what the page
 * shows with the files on disk.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import {
  divergingColor,
  parseNpy,
  type Float32NdArray,
  type ModelSummary,
  type SaliencyManifest,
} from "@ffads/ads/format";
import { type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  BLUE_END,
  cellColor,
  expectCell,
  launchChromium,
  RED_END,
  WHITE,
} from "@ffads/viewer/testing";

import { runCliOrThrow } from "./run-cli.ts";

/** Images the ADS maps are measured on. */
const IMAGE_COUNT = 200;
/** Hidden layer sizes: the tiny preset with two layers, so the loss chart has two curves. */
const HIDDEN_LAYERS = "64,32";

let workDir: string;
let context: BrowserContext;
let page: Page;
let manifest: SaliencyManifest;
let model: ModelSummary;
let ads: Float32NdArray;
let classAds: Float32NdArray;
const pageErrors: string[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "ffads-cli-viewer-"));
  const runDir = path.join(workDir, "run");
  const modelDir = path.join(runDir, "model");
  const saliencyDir = path.join(runDir, "saliency");
  const siteDir = path.join(workDir, "site");

  await runCliOrThrow([
    "train",
    "--preset",
    "tiny",
    "--layers",
    HIDDEN_LAYERS,
    "--backend",
    "wasm",
    "--out",
    modelDir,
  ]);
  await runCliOrThrow([
    "ads",
    "--model",
    modelDir,
    "--limit",
    String(IMAGE_COUNT),
    "--backend",
    "wasm",
  ]);
  await runCliOrThrow(["view", runDir, "--out", siteDir]);

  manifest = JSON.parse(
    await readFile(path.join(saliencyDir, "manifest.json"), "utf8"),
  );
  model = JSON.parse(await readFile(path.join(modelDir, "model.json"), "utf8"));
  const readArray = async (name: string) => {
    const file = path.join(saliencyDir, manifest.arrays[name]!.file);
    return parseNpy(await readFile(file), file);
  };
  ads = await readArray("ads");
  classAds = await readArray("classAds");

  context = await launchChromium(path.join(workDir, "chromium-profile"));
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(pathToFileURL(path.join(siteDir, "index.html")).href);
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/**
 * Returns the largest finite |value| of an array, which is the viewer's colour range at its
 * default clipping percentile, 100.
 */
function maxMagnitude(data: Float32Array): number {
  let max = 0;
  for (const value of data) {
    if (Number.isFinite(value)) max = Math.max(max, Math.abs(value));
  }
  return max;
}

/** Returns the index of the first value with the largest finite |value|. */
function indexOfMaxMagnitude(data: Float32Array): number {
  let best = -1;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) continue;
    if (best < 0 || Math.abs(data[i]!) > Math.abs(data[best]!)) best = i;
  }
  return best;
}

/**
 * Returns the indices of the cells the tests look at: the largest |value|, the first 0 and the
 * smallest non-zero |value|.
 */
function knownCells(data: Float32Array): {
  largest: number;
  zero: number;
  smallestNonZero: number;
} {
  let smallestNonZero = -1;
  data.forEach((value, i) => {
    if (value === 0 || !Number.isFinite(value)) return;
    if (
      smallestNonZero < 0 ||
      Math.abs(value) < Math.abs(data[smallestNonZero]!)
    )
      smallestNonZero = i;
  });
  return {
    largest: indexOfMaxMagnitude(data),
    zero: data.indexOf(0),
    smallestNonZero,
  };
}

/** Moves the pointer over the centre of one cell and returns the tooltip's text. */
async function hoverCell(
  canvas: Locator,
  row: number,
  col: number,
): Promise<string> {
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  const cellWidth = box.width / 28;
  const cellHeight = box.height / 28;
  await canvas.hover({
    position: { x: (col + 0.5) * cellWidth, y: (row + 0.5) * cellHeight },
  });
  const tooltip = page.getByTestId("run-pane").getByTestId("tooltip");
  await expect
    .poll(() => tooltip.textContent())
    .toMatch(new RegExp(`^row ${row}, col ${col}: `));
  return (await tooltip.textContent())!;
}

describe("viewer on a real run, from file://", () => {
  it("draws ads.npy in the colormap's colours", async () => {
    expect(ads.shape).toEqual([28, 28]);
    const range = maxMagnitude(ads.data);
    expect(range).toBeGreaterThan(0);
    const { largest, zero, smallestNonZero } = knownCells(ads.data);
    // Occluding the black border of MNIST digits with black changes no prediction, so a map
    // measured with the zero baseline has cells that are exactly 0.
    expect(zero).toBeGreaterThanOrEqual(0);
    expect(smallestNonZero).toBeGreaterThanOrEqual(0);
    const centre = 14 * 28 + 14;

    const map = page.getByTestId("run-pane").getByTestId("dataset-map");
    expect(await map.getAttribute("width")).toBe("28");
    expect(await map.getAttribute("height")).toBe("28");
    for (const index of [largest, zero, smallestNonZero, centre]) {
      const row = Math.floor(index / 28);
      const col = index % 28;
      await expectCell(map, row, col, divergingColor(ads.data[index]!, range));
    }
    // The range is the largest magnitude, so that cell takes an end colour, and zero is white.
    const [largestRow, largestCol] = [Math.floor(largest / 28), largest % 28];
    await expectCell(
      map,
      largestRow,
      largestCol,
      ads.data[largest]! > 0 ? RED_END : BLUE_END,
    );
    await expectCell(map, Math.floor(zero / 28), zero % 28, WHITE);
  });

  it("draws classAds.npy on one range shared by the classes", async () => {
    expect(classAds.shape).toEqual([10, 28, 28]);
    const range = maxMagnitude(classAds.data);
    const largest = indexOfMaxMagnitude(classAds.data);
    const grid = page.getByTestId("run-pane").getByTestId("class-grid");
    for (const index of [largest, 7 * 784 + 14 * 28 + 14, 2 * 784]) {
      const label = Math.floor(index / 784);
      const row = Math.floor((index % 784) / 28);
      const col = index % 28;
      await expectCell(
        grid.getByTestId(`class-map-${label}`),
        row,
        col,
        divergingColor(classAds.data[index]!, range),
      );
    }
  });

  it("shows the metadata of manifest.json and model.json", async () => {
    const metadata = page.getByTestId("run-pane").getByTestId("metadata");
    await metadata.waitFor();
    const labels = await metadata.locator("dt").allTextContents();
    const values = await metadata.locator("dd").allTextContents();
    expect(values).toHaveLength(labels.length);
    const rows = Object.fromEntries(
      labels.map((label, i) => [label, values[i]]),
    );
    expect(manifest.imageCount).toBe(IMAGE_COUNT);
    expect(rows["Dataset"]).toBe(`${manifest.dataset} (test split)`);
    expect(rows["Images (N)"]).toBe(String(IMAGE_COUNT));
    expect(rows["Window"]).toBe(
      `${manifest.window} x ${manifest.window} pixels`,
    );
    expect(rows["Stride"]).toBe(`${manifest.stride} pixels`);
    expect(rows["Clean accuracy"]).toBe(
      `${(manifest.cleanAccuracy * 100).toFixed(1)}%`,
    );
    expect(rows["Model"]).toBe(
      `Forward-Forward MLP [${model.architecture.layerSizes.join(", ")}]`,
    );
    expect(rows["Test accuracy"]).toBe(
      `${(model.metrics!.testAccuracy! * 100).toFixed(1)}%`,
    );
  });

  it("draws one loss curve per layer", async () => {
    const layers = model.lossHistory.layers;
    expect(layers).toHaveLength(HIDDEN_LAYERS.split(",").length);
    const curves = page
      .getByTestId("run-pane")
      .getByTestId("loss-chart")
      .getByTestId("loss-curve");
    await expect.poll(() => curves.count()).toBe(layers.length);
    for (let layer = 0; layer < layers.length; layer++) {
      const pathData = (await curves.nth(layer).getAttribute("d"))!;
      expect(pathData.split(" ")).toHaveLength(layers[layer]!.length);
    }
  });

  it("shows the exact stored value under the pointer", async () => {
    const pane = page.getByTestId("run-pane");
    const { largest, smallestNonZero } = knownCells(ads.data);
    const cells = [largest, smallestNonZero].map((index) => ({
      canvas: pane.getByTestId("dataset-map"),
      index,
      value: ads.data[index]!,
    }));
    // With N = 200 every dataset-level value is a multiple of 0.5 points, so a per-class value
    // (N of about 20) checks a float32 that needs many digits, such as 4.1666665.
    const manyDigits = classAds.data.findIndex(
      (value) =>
        Number.isFinite(value) &&
        Math.fround(Number(value.toPrecision(4))) !== value,
    );
    expect(manyDigits).toBeGreaterThanOrEqual(0);
    cells.push({
      canvas: pane.getByTestId(`class-map-${Math.floor(manyDigits / 784)}`),
      index: manyDigits % 784,
      value: classAds.data[manyDigits]!,
    });

    for (const { canvas, index, value } of cells) {
      const row = Math.floor(index / 28);
      const col = index % 28;
      const text = await hoverCell(canvas, row, col);
      const match = /^row \d+, col \d+: (\S+) accuracy points$/.exec(text);
      expect(match, text).not.toBeNull();
      expect(Math.fround(Number(match![1])), text).toBe(value);
    }
  });

  it("raised no page errors", () => {
    expect(pageErrors).toEqual([]);
  });
});
