import { describe, expect, it } from "vitest";
import { RUNS_INDEX_FORMAT, validateRunsIndex } from "./runs-index.ts";

describe("validateRunsIndex", () => {
  it("accepts an index of run folders", () => {
    const index = {
      format: RUNS_INDEX_FORMAT,
      version: 1,
      runs: [{ name: "a", path: "runs/a" }],
    };
    expect(validateRunsIndex(index).runs[0]?.path).toBe("runs/a");
  });

  it("rejects paths that leave the runs folder", () => {
    for (const path of [
      "runs/../secret",
      "/runs/a",
      "https://example.invalid/runs/a",
      "runs/a/b",
      "other/a",
    ]) {
      const index = {
        format: RUNS_INDEX_FORMAT,
        version: 1,
        runs: [{ name: "a", path }],
      };
      expect(() => validateRunsIndex(index)).toThrow(/runs\[0\] must be/);
    }
  });

  it("rejects another format or version", () => {
    expect(() =>
      validateRunsIndex({ format: "x", version: 1, runs: [] }),
    ).toThrow(/field "format"/);
    expect(() =>
      validateRunsIndex({ format: RUNS_INDEX_FORMAT, version: 2, runs: [] }),
    ).toThrow(/version 2/);
  });
});
