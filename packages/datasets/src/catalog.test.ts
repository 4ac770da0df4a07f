import { stat } from "node:fs/promises";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { MNIST_DATA_DIR } from "../test/fixtures.ts";
import {
  classNamesOf,
  DATASET_NAMES,
  datasetInfo,
  findOfficialFile,
  SPLITS,
  type DatasetName,
} from "./catalog.ts";
import { DatasetError } from "./errors.ts";

describe("catalog", () => {
  it("lists both datasets and splits", () => {
    expect(DATASET_NAMES).toEqual(["mnist", "fashion-mnist"]);
    expect(SPLITS).toEqual(["train", "test"]);
  });

  it("names the MNIST classes by digit", () => {
    expect(classNamesOf("mnist")).toEqual([
      "0",
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
      "7",
      "8",
      "9",
    ]);
  });

  it("names the Fashion-MNIST classes", () => {
    expect(classNamesOf("fashion-mnist")).toEqual([
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ]);
  });

  it.each(DATASET_NAMES)("has the official splits of %s", (dataset) => {
    const info = datasetInfo(dataset);

    expect(info.splits.train.count).toBe(60_000);
    expect(info.splits.test.count).toBe(10_000);
    expect(info.splits.train.images.fileName).toBe(
      "train-images-idx3-ubyte.gz",
    );
    expect(info.splits.train.labels.fileName).toBe(
      "train-labels-idx1-ubyte.gz",
    );
    expect(info.splits.test.images.fileName).toBe("t10k-images-idx3-ubyte.gz");
    expect(info.splits.test.labels.fileName).toBe("t10k-labels-idx1-ubyte.gz");
    expect(info.splits.test.images.rawName).toBe("t10k-images-idx3-ubyte");
  });

  it("has the byte lengths of the MNIST files", async () => {
    for (const split of SPLITS) {
      for (const file of [
        datasetInfo("mnist").splits[split].images,
        datasetInfo("mnist").splits[split].labels,
      ]) {
        const info = await stat(join(MNIST_DATA_DIR, file.rawName));
        expect(file.byteLength, file.rawName).toBe(info.size);
      }
    }
  });

  it("identifies official files by checksum", () => {
    const fashionTestLabels = datasetInfo("fashion-mnist").splits.test.labels;

    const found = findOfficialFile(fashionTestLabels.sha256);

    expect(found?.dataset).toBe("fashion-mnist");
    expect(found?.split).toBe("test");
    expect(found?.role).toBe("labels");
    expect(findOfficialFile("0".repeat(64))).toBeUndefined();
  });

  it("has eight distinct checksums", () => {
    const checksums = DATASET_NAMES.flatMap((dataset) =>
      SPLITS.flatMap((split) => [
        datasetInfo(dataset).splits[split].images.sha256,
        datasetInfo(dataset).splits[split].labels.sha256,
      ]),
    );

    expect(new Set(checksums).size).toBe(8);
    for (const checksum of checksums)
      expect(checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("rejects an unknown dataset name", () => {
    expect(() => classNamesOf("cifar10" as DatasetName)).toThrow(DatasetError);
    expect(() => classNamesOf("cifar10" as DatasetName)).toThrow(
      'Unknown dataset "cifar10"; use one of mnist, fashion-mnist.',
    );
  });

  it("keeps class names immutable", () => {
    const classNames = classNamesOf("mnist") as string[];

    expect(() => {
      classNames[0] = "zero";
    }).toThrow(TypeError);
    expect(classNamesOf("mnist")[0]).toBe("0");
  });
});
