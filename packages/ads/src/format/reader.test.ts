import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FormatError, isMissingFile } from "./errors.ts";
import { nodeFolderSource } from "./node-source.ts";
import { encodeNpy } from "./npy.ts";
import { readJson, readModelSummary, readSaliencyFolder } from "./reader.ts";
import {
  fetchSource,
  fileListSource,
  subfolderSource,
  type FolderSource,
} from "./source.ts";
import {
  exampleManifest,
  exampleModelJson,
  exampleSaliencyFiles,
} from "./testing.ts";

async function catchFormatError(
  promise: Promise<unknown>,
): Promise<FormatError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FormatError) return error;
    throw error;
  }
  throw new Error("expected a FormatError, but the promise resolved");
}

/** Lays out a run folder, model/ and saliency/, in memory. */
function runFiles(saliency = exampleSaliencyFiles()): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const [name, bytes] of saliency) files.set(`saliency/${name}`, bytes);
  files.set(
    "model/model.json",
    new TextEncoder().encode(JSON.stringify(exampleModelJson())),
  );
  return files;
}

function memorySource(files: Map<string, Uint8Array>): FolderSource {
  const blobs = new Map(
    [...files].map(([name, bytes]) => [name, new Blob([bytes])]),
  );
  return fileListSource(blobs, "picked");
}

describe("readSaliencyFolder", () => {
  it("reads the manifest and every array", async () => {
    const folder = await readSaliencyFolder(
      subfolderSource(memorySource(runFiles()), "saliency"),
    );
    expect(folder.manifest.stride).toBe(2);
    expect(Object.keys(folder.arrays)).toHaveLength(8);
    const classAds = folder.arrays.classAds!;
    expect(classAds.shape).toEqual([10, 28, 28]);
    // classAds is the third entry, so value i is i * 0.5 + 2.
    expect(classAds.data[0]).toBe(2);
    expect(classAds.data[785]).toBe(785 * 0.5 + 2);
  });

  it("names a missing array file", async () => {
    const files = runFiles();
    files.delete("saliency/sampleMaps.npy");
    const error = await catchFormatError(
      readSaliencyFolder(subfolderSource(memorySource(files), "saliency")),
    );
    expect(error.code).toBe("missing-file");
    expect(error.message).toBe(
      "picked/saliency/sampleMaps.npy: file not found in the chosen folder",
    );
  });

  it("names an array whose shape differs from the manifest", async () => {
    const files = runFiles();
    files.set(
      "saliency/classAds.npy",
      encodeNpy({ shape: [10, 784], data: new Float32Array(7840) }),
    );
    const error = await catchFormatError(
      readSaliencyFolder(subfolderSource(memorySource(files), "saliency")),
    );
    expect(error.code).toBe("shape-mismatch");
    expect(error.message).toBe(
      "picked/saliency/classAds.npy: the array has shape [10, 784], but manifest.json lists [10, 28, 28] for arrays.classAds",
    );
  });

  it("names invalid JSON", async () => {
    const files = runFiles();
    files.set("saliency/manifest.json", new TextEncoder().encode("{ not json"));
    const error = await catchFormatError(
      readSaliencyFolder(subfolderSource(memorySource(files), "saliency")),
    );
    expect(error.code).toBe("invalid-json");
    expect(error.message).toMatch(
      /^picked\/saliency\/manifest\.json: invalid JSON: /,
    );
  });

  it("names the manifest path in field errors", async () => {
    const manifest = exampleManifest();
    manifest.version = 7;
    const error = await catchFormatError(
      readSaliencyFolder(memorySource(exampleSaliencyFiles(manifest))),
    );
    expect(error.message).toMatch(
      /^picked\/manifest\.json: format version 7 is not supported/,
    );
  });

  it("wraps errors of a custom source", async () => {
    const source: FolderSource = {
      readText: async () => {
        throw new Error("disk on fire");
      },
      readBytes: async () => new Uint8Array(),
    };
    const error = await catchFormatError(readSaliencyFolder(source));
    expect(error.code).toBe("read-failed");
    expect(error.message).toBe("manifest.json: read failed: disk on fire");
  });
});

describe("readModelSummary", () => {
  it("reads model.json through the manifest's model path", async () => {
    const saliency = subfolderSource(memorySource(runFiles()), "saliency");
    const summary = await readModelSummary(
      subfolderSource(saliency, "../model"),
    );
    expect(summary.lossHistory.layers).toHaveLength(2);
  });
});

describe("nodeFolderSource", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ffads-reader-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a run folder from disk", async () => {
    for (const [name, bytes] of runFiles()) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), bytes);
    }
    const saliency = nodeFolderSource(path.join(dir, "saliency"));
    const folder = await readSaliencyFolder(saliency);
    expect(folder.arrays.ads?.data[3]).toBe(1.5);
    const summary = await readModelSummary(
      subfolderSource(saliency, folder.manifest.model.path),
    );
    expect(summary.kind).toBe("ff");
  });

  it("reports a missing file with its absolute path", async () => {
    const error = await catchFormatError(
      readSaliencyFolder(nodeFolderSource(dir)),
    );
    expect(isMissingFile(error)).toBe(true);
    expect(error.file).toBe(path.join(dir, "manifest.json"));
  });
});

describe("fetchSource", () => {
  const files = runFiles();
  const fakeFetch = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    if (url.pathname === "/broken/manifest.json")
      return new Response("oops", { status: 500, statusText: "Server Error" });
    const bytes = files.get(url.pathname.replace(/^\/runs\/a\//, ""));
    return bytes
      ? new Response(bytes)
      : new Response("not found", { status: 404 });
  }) as typeof fetch;

  it("reads a served run folder, following ../model", async () => {
    const source = fetchSource("http://127.0.0.1:9/runs/a/saliency", fakeFetch);
    const folder = await readSaliencyFolder(source);
    expect(folder.arrays.sampleCleanMargin?.shape).toEqual([3]);
    const summary = await readModelSummary(subfolderSource(source, "../model"));
    expect(summary.architecture.layerSizes).toEqual([784, 500, 500]);
  });

  it("reads a 404 as a missing file and names the URL", async () => {
    const error = await catchFormatError(
      readJson(
        fetchSource("http://127.0.0.1:9/runs/a/", fakeFetch),
        "nope.json",
      ),
    );
    expect(error.code).toBe("missing-file");
    expect(error.message).toBe(
      "http://127.0.0.1:9/runs/a/nope.json: file not found (HTTP 404)",
    );
  });

  it("reports other HTTP errors", async () => {
    const error = await catchFormatError(
      readJson(
        fetchSource("http://127.0.0.1:9/broken/", fakeFetch),
        "manifest.json",
      ),
    );
    expect(error.code).toBe("read-failed");
    expect(error.message).toBe(
      "http://127.0.0.1:9/broken/manifest.json: fetch failed: HTTP 500 Server Error",
    );
  });
});
