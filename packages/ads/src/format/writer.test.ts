import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { syntheticResult } from "../testing.ts";
import { FormatError } from "./errors.ts";
import { nodeFolderSource } from "./node-source.ts";
import { readSaliencyFolder } from "./reader.ts";
import { writeSaliencyFolder, type SaliencyMetadata } from "./writer.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ads-writer-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metadata: SaliencyMetadata = {
  model: {
    path: "../model",
    kind: "ff",
    layerSizes: [784, 500, 500],
    recipe: "default",
    testAccuracy: 0.97,
  },
  dataset: "mnist",
  split: "test",
  figures: [{ file: "ads.png", kind: "ads", title: "Dataset-level ADS map" }],
  createdAt: new Date("2026-01-02T03:04:05Z"),
};

describe("writeSaliencyFolder", () => {
  it("round-trips through the reader", async () => {
    const result = syntheticResult();
    const folder = path.join(dir, "saliency");
    const written = await writeSaliencyFolder(folder, result, metadata);
    const read = await readSaliencyFolder(nodeFolderSource(folder));

    expect(read.manifest).toEqual(written);
    expect(read.manifest.createdAt).toBe("2026-01-02T03:04:05.000Z");
    expect(read.manifest.window).toBe(3);
    expect(read.manifest.stride).toBe(2);
    expect(read.manifest.baseline).toEqual({ kind: "zero", value: 0 });
    expect(read.manifest.cleanAccuracy).toBe(0.9);
    expect(read.manifest.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(read.manifest.samples).toEqual([
      { index: 4, label: 3, prediction: 3, correct: true },
      { index: 7, label: 5, prediction: 6, correct: false },
      { index: 9, label: 0, prediction: 0, correct: true },
    ]);
    const expectedShapes: Record<string, number[]> = {
      ads: [28, 28],
      occludedAccuracy: [14, 14],
      classAds: [10, 28, 28],
      classCleanAccuracy: [10],
      classImageCount: [10],
      sampleImages: [3, 28, 28],
      sampleMaps: [3, 28, 28],
      sampleCleanMargin: [3],
    };
    for (const [name, shape] of Object.entries(expectedShapes)) {
      const array = read.arrays[name]!;
      expect(array.shape, name).toEqual(shape);
      const original = result[name as keyof typeof result] as Float32Array;
      expect(Array.from(array.data), name).toEqual(Array.from(original));
    }
    expect(read.manifest.arrays.ads!.unit).toBe("accuracy points");
    expect(read.manifest.arrays.sampleMaps!.unit).toBe("goodness");
  });

  it("keeps NaN values of classes without images", async () => {
    await writeSaliencyFolder(dir, syntheticResult(), metadata);
    const read = await readSaliencyFolder(nodeFolderSource(dir));
    expect(read.arrays.classAds!.data[9 * 784]).toBeNaN();
    expect(read.arrays.classCleanAccuracy!.data[9]).toBeNaN();
  });

  it("leaves no temporary files", async () => {
    await writeSaliencyFolder(dir, syntheticResult(), metadata);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(
      [
        "ads.npy",
        "classAds.npy",
        "classCleanAccuracy.npy",
        "classImageCount.npy",
        "manifest.json",
        "occludedAccuracy.npy",
        "sampleCleanMargin.npy",
        "sampleImages.npy",
        "sampleMaps.npy",
      ].sort(),
    );
  });

  it("rejects invalid metadata before writing anything", async () => {
    const folder = path.join(dir, "never");
    const invalid = {
      ...metadata,
      model: { ...metadata.model, path: "/absolute/model" },
    };
    await expect(
      writeSaliencyFolder(folder, syntheticResult(), invalid),
    ).rejects.toThrow(FormatError);
    await expect(readdir(folder)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
