/**
 * Tests of `ff ads` on a real model: flag validation, --classes with --limit, the --overwrite
 * guard, and reading the saliency folder back with the format reader.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import {
  parseNpy,
  readSaliencyFolder,
  type SaliencyManifest,
} from "@ffads/ads/format";
import { nodeFolderSource } from "@ffads/ads/format/node";
import { loadDataset } from "@ffads/datasets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runCli, runCliOrThrow } from "./run-cli.ts";

const CLASSES = [3, 5];
const LIMIT = 50;
const PNG_SIGNATURE = Buffer.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
]);

let workDir: string;
let modelDir: string;
let saliencyDir: string;
let manifest: SaliencyManifest;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "ffads-cli-ads-"));
  modelDir = path.join(workDir, "run", "model");
  saliencyDir = path.join(workDir, "run", "saliency");
  // Accuracy does not matter here, so the model trains on fewer images for one epoch.
  await runCliOrThrow([
    "train",
    "--preset",
    "tiny",
    "--train-count",
    "2000",
    "--epochs",
    "1",
    "--backend",
    "wasm",
    "--out",
    modelDir,
  ]);
  await runCliOrThrow([
    "ads",
    "--model",
    modelDir,
    "--classes",
    CLASSES.join(","),
    "--limit",
    String(LIMIT),
    "--backend",
    "wasm",
  ]);
  manifest = JSON.parse(
    await readFile(path.join(saliencyDir, "manifest.json"), "utf8"),
  );
}, 120_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Reads every file of a folder, by name. */
async function readFolder(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) {
    files.set(name, await readFile(path.join(dir, name)));
  }
  return files;
}

async function readArray(name: string): Promise<Float32Array> {
  const file = path.join(saliencyDir, manifest.arrays[name]!.file);
  return parseNpy(await readFile(file), file).data;
}

describe("ff ads flags", () => {
  it.each([
    [
      "--baseline",
      "2",
      '--baseline "2" is invalid; use zero, mean, or a pixel value between 0 and 1',
    ],
    [
      "--classes",
      "3,x",
      '--classes "3,x" is invalid; give labels from 0 to 9 separated by commas, e.g. 3,5,8',
    ],
  ])("rejects %s %s with one line", async (flag, value, message) => {
    const out = path.join(workDir, `invalid${flag}`);
    const result = await runCli([
      "ads",
      "--model",
      modelDir,
      flag,
      value,
      "--backend",
      "wasm",
      "--out",
      out,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`ff: error: ${message}\n`);
    expect(result.stdout).toBe("");
    expect(existsSync(out)).toBe(false);
  });
});

describe("ff ads --classes 3,5 --limit 50", () => {
  it("lists only those classes in the manifest", () => {
    expect(manifest.classes).toEqual(CLASSES);
    expect(manifest.imageCount).toBe(LIMIT);
    expect(manifest.model.path).toBe("../model");
  });

  it("takes the first 50 test images of those classes", async () => {
    const test = await loadDataset("mnist", "test");
    const expectedCounts = new Array<number>(10).fill(0);
    const selected = new Set<number>();
    for (let i = 0; i < test.count && selected.size < LIMIT; i++) {
      const label = test.labels[i]!;
      if (!CLASSES.includes(label)) continue;
      selected.add(i);
      expectedCounts[label]! += 1;
    }

    const counts = await readArray("classImageCount");
    expect(Array.from(counts)).toEqual(expectedCounts);
    expect(counts[3]).toBeGreaterThan(0);
    expect(counts[5]).toBeGreaterThan(0);

    expect(manifest.samples.length).toBeGreaterThan(0);
    for (const sample of manifest.samples) {
      expect(selected.has(sample.index)).toBe(true);
      expect(sample.label).toBe(test.labels[sample.index]);
    }
  });

  it("writes NaN maps and accuracies for the other classes", async () => {
    const classAds = await readArray("classAds");
    const classCleanAccuracy = await readArray("classCleanAccuracy");
    for (let label = 0; label < 10; label++) {
      const map = classAds.subarray(label * 784, (label + 1) * 784);
      const mapIsNaN = map.every((value) => Number.isNaN(value));
      const accuracyIsNaN = Number.isNaN(classCleanAccuracy[label]!);
      expect(mapIsNaN, `classAds of class ${label}`).toBe(
        !CLASSES.includes(label),
      );
      expect(accuracyIsNaN, `classCleanAccuracy of class ${label}`).toBe(
        !CLASSES.includes(label),
      );
    }
  });

  it("leaves the folder intact without --overwrite", async () => {
    const before = await readFolder(saliencyDir);
    // Another window size, so a second write would change the maps.
    const result = await runCli([
      "ads",
      "--model",
      modelDir,
      "--window",
      "5",
      "--backend",
      "wasm",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `ff: error: ${saliencyDir} already contains a saliency folder; pass --overwrite to replace it, or choose another --out\n`,
    );
    const after = await readFolder(saliencyDir);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, bytes] of before) {
      expect(after.get(name)!.equals(bytes), name).toBe(true);
    }
  });
});

describe("saliency folder written by ff ads", () => {
  it("reads back with readSaliencyFolder", async () => {
    const folder = await readSaliencyFolder(nodeFolderSource(saliencyDir));
    expect(folder.manifest).toEqual(manifest);
    expect(Object.keys(folder.arrays).sort()).toEqual(
      Object.keys(manifest.arrays).sort(),
    );
    for (const [name, entry] of Object.entries(manifest.arrays)) {
      const file = path.join(saliencyDir, entry.file);
      const fromFile = parseNpy(await readFile(file), file);
      expect(folder.arrays[name]!.shape, name).toEqual(entry.shape);
      expect(fromFile.shape, name).toEqual(entry.shape);
      expect(folder.arrays[name]!.data, name).toEqual(fromFile.data);
    }
  });

  it("stores ADS as clean minus occluded accuracy", async () => {
    // At stride 1 every pixel is a window centre, so each ADS value comes from one window.
    expect(manifest.stride).toBe(1);
    const ads = await readArray("ads");
    const occluded = await readArray("occludedAccuracy");
    expect(ads).toHaveLength(784);
    expect(occluded).toHaveLength(784);
    for (let i = 0; i < ads.length; i++) {
      expect(ads[i]!).toBeCloseTo(
        (manifest.cleanAccuracy - occluded[i]!) * 100,
        4,
      );
    }
  });

  it("writes the PNG figures the manifest lists", async () => {
    expect(manifest.figures.length).toBeGreaterThan(0);
    for (const figure of manifest.figures) {
      const bytes = await readFile(path.join(saliencyDir, figure.file));
      expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE), figure.file).toBe(
        true,
      );
    }
  });
});
