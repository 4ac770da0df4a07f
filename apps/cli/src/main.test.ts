import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadDataset } from "@ffads/datasets";

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
    expect(result.stderr).toBe(
      'ff: error: --dataset "cifar" is not one of: mnist, fashion-mnist (see pnpm ff --help)\n',
    );
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
    const aFile = path.join(directory, "a-file");
    const notes = path.join(directory, "notes");
    await writeFile(aFile, "not a folder");
    await mkdir(notes);
    await writeFile(path.join(notes, "notes.txt"), "kept");
    const cases: [string[], string][] = [
      [
        ["train", "--out", path.join(aFile, "model")],
        `because ${aFile} is a file`,
      ],
      [
        ["ads", "--model", "m", "--out", notes],
        `--out ${notes} contains other files (no manifest.json)`,
      ],
      [
        ["train", "--epochs", "1", "--epochs", "2"],
        "--epochs was given more than once (1, 2); give it once",
      ],
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
      [["ads", "--model", "m", "--batch-size", "1"], "from 16 to 65536"],
      [["ads", "--model", "m", "--threads", "1000"], "from 1 to 64"],
      [
        ["train", "--seed", "4294967296"],
        "--seed 4294967296 is invalid; give a whole number from 0 to 4294967295",
      ],
      [["train", "--dataset"], "--dataset needs a value"],
      [["train", "--seed", "--epochs", "2"], "--seed needs a value"],
      [["eval", "--model"], "--model needs a value"],
      [["eval"], "--model is required"],
      [["ads", "--model", "m", "--window"], "--window needs a value"],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toContain(message);
      expect(result.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
    }
    expect(await readFile(path.join(notes, "notes.txt"), "utf8")).toBe("kept");
  });

  it("accepts a modified copy only with --no-verify-checksums", async () => {
    // A copy with the first 200 training and 100 test images of MNIST, as raw IDX files.
    const dataDir = path.join(directory, "mnist-subset");
    await mkdir(dataDir);
    const idx = (magic: number, dims: number[], body: Uint8Array): Buffer => {
      const header = Buffer.alloc(4 + 4 * dims.length);
      header.writeUInt32BE(magic, 0);
      dims.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
      return Buffer.concat([header, body]);
    };
    for (const [split, prefix, count] of [
      ["train", "train", 200],
      ["test", "t10k", 100],
    ] as const) {
      const set = await loadDataset("mnist", split);
      await writeFile(
        path.join(dataDir, `${prefix}-images-idx3-ubyte`),
        idx(0x803, [count, 28, 28], set.images.subarray(0, count * 784)),
      );
      await writeFile(
        path.join(dataDir, `${prefix}-labels-idx1-ubyte`),
        idx(0x801, [count], set.labels.subarray(0, count)),
      );
    }
    const args = [
      "train",
      "--preset",
      "tiny",
      "--epochs",
      "1",
      "--train-count",
      "200",
      "--data-dir",
      dataDir,
      "--backend",
      "cpu",
      "--out",
      path.join(directory, "subset-model"),
    ];
    const rejected = await run(args);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain("SHA-256");
    expect(rejected.stderr).toContain("--no-verify-checksums");
    const accepted = await run([
      ...args,
      "--no-verify-checksums",
      "--layers",
      "20,20",
      "--schedule",
      "sequential",
      "--json",
    ]);
    expect(accepted.stderr).not.toContain("error");
    expect(accepted.code).toBe(0);
    // One line per epoch, with layers numbered from 1 as in the viewer.
    expect(accepted.stderr).toMatch(
      /^layer 1\/2 epoch 1\/1  loss L1 \d\.\d{4}  /m,
    );
    expect(accepted.stderr).toMatch(
      /^layer 2\/2 epoch 1\/1  loss L2 \d\.\d{4}  /m,
    );
    const summary = JSON.parse(accepted.stdout);
    expect(summary.trainCount).toBe(200);
    expect(summary.testAccuracy).toBeGreaterThanOrEqual(0);
  });

  it("writes nothing when training diverges", async () => {
    const out = path.join(directory, "diverged");
    const result = await run([
      "train",
      "--preset",
      "tiny",
      "--train-count",
      "200",
      "--epochs",
      "1",
      "--learning-rate",
      "1e300",
      "--backend",
      "cpu",
      "--out",
      out,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "training diverged: layer 1 has NaN or infinite weights",
    );
    expect(existsSync(out)).toBe(false);
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
