import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.ts";
import {
  checkArrayShape,
  expectedArrayShape,
  validateModelSummary,
  validateSaliencyManifest,
  type ArrayEntry,
} from "./manifest.ts";
import { exampleManifest, exampleModelJson } from "./testing.ts";

function catchFormatError(run: () => unknown): FormatError {
  try {
    run();
  } catch (error) {
    if (error instanceof FormatError) return error;
    throw error;
  }
  throw new Error("expected a FormatError, but nothing was thrown");
}

function withChanges(
  change: (manifest: Record<string, any>) => void,
): Record<string, any> {
  const manifest = exampleManifest() as Record<string, any>;
  change(manifest);
  return manifest;
}

describe("validateSaliencyManifest", () => {
  it("accepts a valid manifest", () => {
    const manifest = validateSaliencyManifest(exampleManifest());
    expect(manifest.window).toBe(4);
    expect(manifest.arrays.classAds?.shape).toEqual([10, 28, 28]);
    expect(manifest.samples[1]?.correct).toBe(false);
  });

  it("rejects another format name", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(
        withChanges((m) => (m.format = "ffads-model")),
        "run/manifest.json",
      ),
    );
    expect(error.code).toBe("wrong-format");
    expect(error.file).toBe("run/manifest.json");
    expect(error.message).toMatch(
      /^run\/manifest\.json: field "format" is "ffads-model", expected "ffads-saliency"/,
    );
  });

  it("rejects another version", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(withChanges((m) => (m.version = 2))),
    );
    expect(error.code).toBe("unsupported-version");
    expect(error.message).toContain(
      "format version 2 is not supported; this reader reads version 1",
    );
  });

  it("rejects a value that is not an object", () => {
    const error = catchFormatError(() => validateSaliencyManifest([1, 2]));
    expect(error.message).toBe(
      "manifest.json: expected a JSON object, found [1,2]",
    );
  });

  it("names every missing or invalid field", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(
        withChanges((m) => {
          delete m.window;
          m.stride = 0;
          m.split = "validation";
          m.cleanAccuracy = 93;
          m.baseline = { kind: "mean", value: 0.1 };
          m.samples[0].label = 12;
          m.classes = [0, 10];
        }),
      ),
    );
    expect(error.code).toBe("invalid-field");
    expect(error.problems).toEqual([
      'field "split" must be one of "test", "train", found "validation"',
      'field "classes[1]" must be a label below 10, found 10',
      'field "window" is missing; expected an integer >= 1',
      'field "stride" must be an integer >= 1, found 0',
      'field "baseline.value" must be null for kind "mean", found 0.1',
      'field "cleanAccuracy" must be a fraction in [0, 1], found 93',
      'field "samples[0].label" must be an integer in [0, 9], found 12',
    ]);
  });

  it("rejects a sample whose correct flag contradicts its labels", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(
        withChanges((m) => (m.samples[1].correct = true)),
      ),
    );
    expect(error.problems).toEqual([
      "samples[1].correct is true, but label 7 and prediction 2 differ",
    ]);
  });

  it("rejects a missing array and a wrong dtype", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(
        withChanges((m) => {
          delete m.arrays.sampleMaps;
          m.arrays.ads.dtype = "float64";
        }),
      ),
    );
    expect(error.problems).toEqual([
      'field "arrays.ads.dtype" must be "float32", found "float64"',
      'field "arrays.sampleMaps" is missing; expected an array entry',
    ]);
  });

  it("rejects array files outside the folder", () => {
    for (const file of [
      "../x.npy",
      "/etc/passwd",
      "https://example.invalid/a.npy",
      "a\\b.npy",
      "",
    ]) {
      const error = catchFormatError(() =>
        validateSaliencyManifest(
          withChanges((m) => (m.arrays.ads.file = file)),
        ),
      );
      expect(error.problems[0]).toMatch(
        /^field "arrays\.ads\.file" must be a relative path inside the folder/,
      );
    }
  });

  it("rejects array shapes that do not fit the manifest", () => {
    const error = catchFormatError(() =>
      validateSaliencyManifest(
        withChanges((m) => {
          m.arrays.classAds.shape = [9, 28, 28];
          m.arrays.occludedAccuracy.shape = [28, 28];
        }),
      ),
    );
    expect(error.code).toBe("shape-mismatch");
    expect(error.problems).toHaveLength(2);
    expect(error.problems[0]).toMatch(
      /^arrays\.occludedAccuracy\.shape is \[28, 28\], .* require \[14, 14\]$/,
    );
    expect(error.problems[1]).toMatch(
      /^arrays\.classAds\.shape is \[9, 28, 28\], .* require \[10, 28, 28\]$/,
    );
  });

  it("accepts extra arrays with any shape", () => {
    const manifest = validateSaliencyManifest(
      withChanges(
        (m) =>
          (m.arrays.extra = {
            file: "extra.npy",
            shape: [4],
            dtype: "float32",
            unit: "x",
            meaning: "y",
          }),
      ),
    );
    expect(manifest.arrays.extra?.shape).toEqual([4]);
  });
});

describe("expectedArrayShape", () => {
  it("derives the grid from the stride", () => {
    const manifest = validateSaliencyManifest(exampleManifest());
    expect(
      expectedArrayShape({ ...manifest, stride: 1 }, "occludedAccuracy"),
    ).toEqual([28, 28]);
    expect(
      expectedArrayShape({ ...manifest, stride: 3 }, "occludedAccuracy"),
    ).toEqual([10, 10]);
    expect(expectedArrayShape(manifest, "sampleCleanMargin")).toEqual([3]);
    expect(expectedArrayShape(manifest, "extra")).toBeNull();
  });
});

describe("checkArrayShape", () => {
  it("names the npy file and both shapes", () => {
    const entry: ArrayEntry = {
      file: "classAds.npy",
      shape: [10, 28, 28],
      dtype: "float32",
      unit: "",
      meaning: "",
    };
    expect(() =>
      checkArrayShape("classAds", entry, [10, 28, 28]),
    ).not.toThrow();
    const error = catchFormatError(() =>
      checkArrayShape("classAds", entry, [10, 784]),
    );
    expect(error.code).toBe("shape-mismatch");
    expect(error.message).toBe(
      "classAds.npy: the array has shape [10, 784], but manifest.json lists [10, 28, 28] for arrays.classAds",
    );
  });
});

describe("validateModelSummary", () => {
  it("returns the fields the viewer uses", () => {
    const summary = validateModelSummary(exampleModelJson());
    expect(summary.kind).toBe("ff");
    expect(summary.architecture.layerSizes).toEqual([784, 500, 500]);
    expect(summary.metrics?.testAccuracy).toBe(0.93);
    expect(summary.lossHistory.layers[0]).toEqual([1.4, 1.1, 0.9]);
    expect(summary.lossHistory.layers[1]?.[1]).toBeNaN();
    expect(summary.recipe?.name).toBe("paper");
  });

  it("accepts a model.json without optional fields", () => {
    const json = exampleModelJson();
    delete json.metrics;
    delete json.training;
    delete json.dataset;
    const summary = validateModelSummary(json);
    expect(summary.metrics).toBeNull();
    expect(summary.dataset).toBeNull();
  });

  it("rejects a saliency manifest given as model.json", () => {
    const error = catchFormatError(() =>
      validateModelSummary(exampleManifest(), "model/model.json"),
    );
    expect(error.code).toBe("wrong-format");
    expect(error.message).toMatch(
      /^model\/model\.json: field "format" is "ffads-saliency", expected "ffads-model"/,
    );
  });

  it("names invalid loss values", () => {
    const json = exampleModelJson();
    json.lossHistory = { unit: "epoch", layers: [[1, "x"]] };
    const error = catchFormatError(() => validateModelSummary(json));
    expect(error.problems).toEqual([
      'field "lossHistory.layers[0][1]" must be a number or null, found "x"',
    ]);
  });

  it("requires the architecture and the loss history", () => {
    const json = exampleModelJson();
    delete json.architecture;
    delete json.lossHistory;
    const error = catchFormatError(() => validateModelSummary(json));
    expect(error.problems).toEqual([
      'field "architecture" is missing; expected an object',
      'field "lossHistory" is missing; expected an object',
    ]);
  });
});
