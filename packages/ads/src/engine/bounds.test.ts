import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { SeededRandom } from "@ffads/ff-core";

import {
  goodnessChangeBound,
  normalizedChangeBound,
  spectralNormByPowerIteration,
  spectralNormUpperBound,
} from "./bounds.ts";
import { orthonormalColumns, symmetricEigenvectors } from "./fast-constants.ts";

beforeAll(async () => {
  await tf.setBackend("wasm");
});

function randomMatrix(rows: number, cols: number, seed: number): tf.Tensor2D {
  const random = new SeededRandom(seed);
  return tf.tensor2d(random.uniform(rows * cols, -1, 1), [rows, cols]);
}

describe("spectralNormUpperBound", () => {
  it.each([
    [50, 30, 1],
    [30, 50, 2],
    [64, 64, 3],
  ])("bounds a %i x %i matrix from above, within 3%%", (rows, cols, seed) => {
    const kernel = randomMatrix(rows, cols, seed);
    const upper = spectralNormUpperBound(kernel);
    const lower = spectralNormByPowerIteration(kernel, 300);
    kernel.dispose();
    expect(upper).toBeGreaterThanOrEqual(lower);
    expect(upper).toBeLessThan(lower * 1.03);
  });

  it("matches a diagonal matrix's norm", () => {
    const kernel = tf.tensor2d([3, 0, 0, 0, -7, 0, 0, 0, 2], [3, 3]);
    const upper = spectralNormUpperBound(kernel);
    kernel.dispose();
    expect(upper).toBeGreaterThanOrEqual(7);
    expect(upper).toBeLessThan(7 * 1.02);
  });

  it("leaves no tensor behind", () => {
    const kernel = randomMatrix(20, 10, 4);
    const before = tf.memory().numTensors;
    spectralNormUpperBound(kernel);
    spectralNormByPowerIteration(kernel, 5);
    expect(tf.memory().numTensors).toBe(before);
    kernel.dispose();
  });
});

/** x / (norm(x) + epsilon), with norm the L2 length or the RMS. */
function normalize(x: number[], normalization: "l2" | "rms", epsilon: number) {
  const length = Math.hypot(...x);
  const norm = normalization === "rms" ? length / Math.sqrt(x.length) : length;
  return x.map((value) => value / (norm + epsilon));
}

describe("normalizedChangeBound", () => {
  it.each(["l2", "rms"] as const)(
    "bounds the change of the %s-normalised vector",
    (normalization) => {
      const random = new SeededRandom(7);
      const width = 12;
      for (let trial = 0; trial < 2000; trial++) {
        const x = Array.from(random.uniform(width, -1, 1));
        const scale = [1e-3, 0.1, 1, 3][trial % 4]!;
        const y = x.map((value) => value + scale * (random.next() - 0.5));
        const change = Math.hypot(...x.map((value, i) => y[i]! - value));
        const epsilon = trial % 2 === 0 ? 1e-4 : 0.5;
        const nx = normalize(x, normalization, epsilon);
        const ny = normalize(y, normalization, epsilon);
        const actual = Math.hypot(...nx.map((value, i) => ny[i]! - value));
        const bound = normalizedChangeBound(
          Math.hypot(...x),
          change,
          width,
          normalization,
          epsilon,
        );
        expect(actual).toBeLessThanOrEqual(bound * (1 + 1e-12));
      }
    },
  );

  it("caps at twice the largest length", () => {
    expect(normalizedChangeBound(1, 5, 9, "l2", 1e-4)).toBe(2);
    expect(normalizedChangeBound(1, 5, 9, "rms", 1e-4)).toBe(6);
  });
});

describe("goodnessChangeBound", () => {
  it("bounds the change of the mean squared activity", () => {
    const random = new SeededRandom(3);
    for (let trial = 0; trial < 1000; trial++) {
      const a = Array.from(random.uniform(8, 0, 2));
      const b = a.map((value) => Math.max(0, value + random.next() - 0.5));
      const change = Math.hypot(...a.map((value, i) => b[i]! - value));
      const mean = (v: number[]) => v.reduce((s, x) => s + x * x, 0) / v.length;
      const bound = goodnessChangeBound(Math.hypot(...a), change, 1 / 8);
      expect(Math.abs(mean(b) - mean(a))).toBeLessThanOrEqual(
        bound * (1 + 1e-12),
      );
    }
  });
});

describe("orthonormalColumns", () => {
  it("returns orthonormal columns, replacing dependent ones", () => {
    const rows = 6;
    const columns = 3;
    // The third column repeats the first, so it must be replaced.
    const matrix = Float64Array.from([
      1, 2, 1, 0, 1, 0, 2, 0, 2, 1, 1, 1, 0, 3, 0, 4, 0, 4,
    ]);
    const q = orthonormalColumns(matrix, rows, columns);
    for (let i = 0; i < columns; i++) {
      for (let j = 0; j < columns; j++) {
        let dot = 0;
        for (let r = 0; r < rows; r++)
          dot += q[r * columns + i]! * q[r * columns + j]!;
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
  });
});

describe("symmetricEigenvectors", () => {
  it("diagonalises a symmetric matrix", () => {
    const size = 5;
    const random = new SeededRandom(11);
    const b = random.uniform(size * size, -1, 1);
    const a = new Float64Array(size * size);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        for (let k = 0; k < size; k++)
          a[i * size + j]! += b[i * size + k]! * b[j * size + k]!;
      }
    }
    const v = symmetricEigenvectors(a, size);
    for (let p = 0; p < size; p++) {
      for (let q = 0; q < size; q++) {
        let value = 0; // (V^T A V)[p][q]
        for (let i = 0; i < size; i++) {
          for (let j = 0; j < size; j++)
            value += v[i * size + p]! * a[i * size + j]! * v[j * size + q]!;
        }
        if (p !== q) expect(Math.abs(value)).toBeLessThan(1e-9);
      }
    }
  });
});
