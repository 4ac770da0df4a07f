import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { main, type Streams } from "./main.ts";
import { formatDuration, formatEta } from "./progress.ts";

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const streams: Streams = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  };
  const code = await main(args, streams);
  return { code, stdout, stderr };
}

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), "ffads-cli-"));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("ff command line", () => {
  it("exits 2 with one line for an unknown flag", async () => {
    const result = await run(["train", "--bogus"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "ff: error: Unknown argument: bogus (see pnpm ff --help)\n",
    );
    expect(result.stdout).toBe("");
  });

  it("exits 2 for a value outside the choices", async () => {
    const result = await run(["train", "--dataset", "cifar"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("cifar");
  });

  it("exits 2 for a non-numeric epoch count", async () => {
    const result = await run(["train", "--epochs", "many"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--epochs is not a number");
  });

  it("exits 2 for impossible layer sizes", async () => {
    const result = await run([
      "train",
      "--layers",
      "500,0",
      "--backend",
      "cpu",
      "--out",
      path.join(directory, "bad"),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--layers "500,0" is invalid');
  });

  it("exits 2 for numbers outside each flag's range", async () => {
    const cases: [string[], string][] = [
      [
        ["train", "--epochs", "0"],
        "--epochs 0 is invalid; give a whole number of at least 1",
      ],
      [
        ["train", "--learning-rate", "-1"],
        "--learning-rate -1 is invalid; give a number above 0",
      ],
      [
        ["train", "--learning-rate-decay", "1.5"],
        "--learning-rate-decay 1.5 is invalid",
      ],
      [["eval", "--model", "m", "--limit", "2.5"], "--limit 2.5 is invalid"],
      [["ads", "--model", "m", "--window", "0"], "--window 0 is invalid"],
      [
        ["view", "runs/x", "--serve", "--port", "70000"],
        "give a port from 0 to 65535",
      ],
      [["train", "--epochs", "many"], "--epochs is not a number"],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toContain(message);
      expect(result.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
    }
  });

  it("exits 2 for a --data-dir that is not a folder", async () => {
    const result = await run([
      "train",
      "--data-dir",
      path.join(directory, "missing"),
      "--backend",
      "cpu",
      "--out",
      path.join(directory, "unused"),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("is not a folder");
  });

  it("exits 2 for a missing run folder", async () => {
    const missing = path.join(directory, "no-such-run");
    const result = await run(["view", missing]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `ff: error: run folder ${missing} does not exist; give a folder written by ff train or ff ads\n`,
    );
  });

  it("exits 2 without a command", async () => {
    expect((await run([])).code).toBe(2);
  });

  it("exits 1 without a stack trace for a missing model", async () => {
    const result = await run([
      "eval",
      "--model",
      path.join(directory, "none"),
      "--backend",
      "cpu",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("model.json is missing");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("prints a stack trace with --verbose", async () => {
    const result = await run([
      "eval",
      "--model",
      path.join(directory, "none"),
      "--backend",
      "cpu",
      "--verbose",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  it("documents every train flag in the help text", async () => {
    const result = await run(["train", "--help"]);
    expect(result.code).toBe(0);
    for (const flag of [
      "--dataset",
      "--preset",
      "--epochs",
      "--batch-size",
      "--layers",
      "--learning-rate",
      "--threshold",
      "--seed",
      "--threads",
      "--backend",
      "--out",
      "--json",
    ]) {
      expect(result.stdout).toContain(flag);
    }
  });

  it("trains, writes a model, and evaluates it to the same accuracy", async () => {
    const out = path.join(directory, "tiny", "model");
    const trained = await run([
      "train",
      "--preset",
      "tiny",
      "--backend",
      "wasm",
      "--out",
      out,
      "--json",
    ]);
    expect(trained.stderr).toContain("backend: wasm");
    expect(trained.code).toBe(0);
    const summary = JSON.parse(trained.stdout);
    expect(summary.model).toBe(out);
    expect(summary.trainCount).toBe(10000);
    expect(summary.testAccuracy).toBeGreaterThan(0.5);

    const model = JSON.parse(
      await readFile(path.join(out, "model.json"), "utf8"),
    );
    expect(model.metrics.testAccuracy).toBe(summary.testAccuracy);
    expect(model.lossHistory.layers).toHaveLength(1);

    const evaluated = await run([
      "eval",
      "--model",
      out,
      "--backend",
      "wasm",
      "--json",
    ]);
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.stdout).accuracy).toBe(summary.testAccuracy);

    const again = await run([
      "train",
      "--preset",
      "tiny",
      "--backend",
      "cpu",
      "--out",
      out,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("--overwrite");
  }, 120_000);
});

describe("ff train --threads", () => {
  it("writes the same weights with 2 threads as with 1", async () => {
    const weights: Buffer[] = [];
    for (const threads of ["1", "2"]) {
      const out = path.join(directory, `threads-${threads}`, "model");
      const trained = await run([
        "train",
        "--preset",
        "tiny",
        "--layers",
        "64,32",
        "--train-count",
        "2000",
        "--epochs",
        "1",
        "--threads",
        threads,
        "--backend",
        "wasm",
        "--out",
        out,
      ]);
      expect(trained.code).toBe(0);
      expect(
        trained.stderr.includes("pipelining the layers over 2 threads"),
      ).toBe(threads === "2");
      weights.push(await readFile(path.join(out, "weights.bin")));
    }
    expect(weights[1]!.equals(weights[0]!)).toBe(true);
  }, 120_000);
});

describe("progress formatting", () => {
  it("formats durations by magnitude", () => {
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(12_345)).toBe("12.3s");
    expect(formatDuration(245_000)).toBe("4m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });

  it("estimates the remaining time from the fraction done", () => {
    expect(formatEta(10_000, 0.25)).toBe("30.0s");
    expect(formatEta(10_000, 0)).toBe("?");
  });
});
