import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  fileListSource,
  FormatError,
  subfolderSource,
  type FolderSource,
} from "@ffads/ads/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureRun } from "../../test/fixture.ts";
import { findRunRoots, openRun } from "./open-run.ts";

let dir: string;

/** Reads every file under `root` into a source, as a browser folder picker would offer them. */
async function folderAsFiles(
  root: string,
  skip: (relPath: string) => boolean = () => false,
): Promise<FolderSource> {
  const files = new Map<string, Blob>();
  for (const entry of await readdir(root, {
    recursive: true,
    withFileTypes: true,
  })) {
    if (!entry.isFile()) continue;
    const relPath = path
      .relative(root, path.join(entry.parentPath, entry.name))
      .split(path.sep)
      .join("/");
    if (!skip(relPath))
      files.set(relPath, new Blob([await readFile(path.join(root, relPath))]));
  }
  return fileListSource(files, "run");
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ffads-open-run-"));
  await makeFixtureRun(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("openRun", () => {
  it("opens a run folder with its model", async () => {
    const run = await openRun(await folderAsFiles(dir), "fixture");
    expect(run.saliency?.manifest.window).toBe(4);
    expect(run.model?.lossHistory.layers).toHaveLength(2);
    expect(run.modelProblem).toBeNull();
  });

  it("opens a bare saliency folder through ../model", async () => {
    const run = await openRun(
      subfolderSource(await folderAsFiles(dir), "saliency"),
      "bare",
    );
    expect(run.saliency).not.toBeNull();
    expect(run.model?.kind).toBe("ff");
  });

  it("notes a missing model.json", async () => {
    const source = await folderAsFiles(dir, (relPath) =>
      relPath.startsWith("model/"),
    );
    const run = await openRun(source, "no model");
    expect(run.saliency).not.toBeNull();
    expect(run.model).toBeNull();
    expect(run.modelProblem).toBe(
      "model.json not found (looked for run/model/model.json, run/model.json), so there are no loss curves",
    );
  });

  it("opens a model folder alone", async () => {
    const source = await folderAsFiles(dir, (relPath) =>
      relPath.startsWith("saliency/"),
    );
    const run = await openRun(source, "model only");
    expect(run.saliency).toBeNull();
    expect(run.model?.architecture.layerSizes).toEqual([784, 20, 20]);
  });

  it("rejects a broken array with its file name", async () => {
    const source = await folderAsFiles(
      dir,
      (relPath) => relPath === "saliency/sampleMaps.npy",
    );
    await expect(openRun(source, "broken")).rejects.toThrow(
      "run/saliency/sampleMaps.npy: file not found in the chosen folder",
    );
  });

  it("reports an invalid model.json without hiding the maps", async () => {
    const modelJson = path.join(dir, "model", "model.json");
    const original = await readFile(modelJson);
    await writeFile(modelJson, '{"format": "ffads-model", "version": 9}');
    try {
      const run = await openRun(await folderAsFiles(dir), "new model");
      expect(run.saliency).not.toBeNull();
      expect(run.modelProblem).toMatch(
        /^run\/model\/model\.json: format version 9 is not supported/,
      );
    } finally {
      await writeFile(modelJson, original);
    }
  });

  it("rejects a folder without a run", async () => {
    const source = fileListSource(
      new Map([["notes.txt", new Blob(["hi"])]]),
      "empty",
    );
    const error = await openRun(source, "empty").catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FormatError);
    expect((error as FormatError).message).toMatch(
      /^empty: no saliency folder or model folder found/,
    );
  });
});

describe("findRunRoots", () => {
  it("finds run folders, bare saliency folders and model folders", () => {
    const roots = findRunRoots([
      "runs/a/saliency/manifest.json",
      "runs/a/saliency/ads.npy",
      "runs/a/model/model.json",
      "runs/b/manifest.json",
      "runs/c/model/model.json",
      "runs/d/model.json",
      "runs/e/readme.txt",
    ]);
    expect(roots).toEqual(["runs/a", "runs/b", "runs/c", "runs/d"]);
  });

  it("returns the root for a picked saliency folder", () => {
    expect(findRunRoots(["manifest.json", "ads.npy"])).toEqual([""]);
    expect(
      findRunRoots(["saliency/manifest.json", "model/model.json"]),
    ).toEqual([""]);
  });
});
