/** Per-network constants of the fast path, computed once per run. */
import * as tf from "@tensorflow/tfjs-core";
import { NUM_CLASSES, type FFNetwork } from "@ffads/ff-core";

import { spectralNormUpperBound } from "./bounds.ts";

/**
 * Directions of the second layer's input space handled exactly by the bound (docs/ads.md,
 * "Bounding the layers above"): the rest is bounded by the spectral norm of the kernel with
 * these directions removed. 24 costs about a twentieth of the layer's product per row.
 */
const PROJECTION_RANK = 24;

/** Block power iterations that find the projection directions. */
const SUBSPACE_ITERATIONS = 30;

export interface FastConstants {
  units: number;
  inputSize: number;
  labelValue: number;
  /** kernel[10:] of the first layer, [inputSize - 10, units]. */
  kernelPixels: tf.Tensor2D;
  /** labelValue * kernel[:10] of the first layer, [1, 10, units]. */
  labelRows: tf.Tensor3D;
  /** The same label rows on the CPU, [10, units], not scaled. */
  labelRowValues: Float32Array;
  /** Whether each layer's goodness counts towards the score. */
  counted: boolean[];
  /** Goodness of a layer = weight * squared L2 length of its activity. */
  goodnessWeights: Float64Array;
  /** Upper bound of each layer's kernel's spectral norm; entries 0 and 1 are unused. */
  spectralNorms: Float64Array;
  /** Second-layer constants, or null for a network of one layer. */
  second: SecondLayerConstants | null;
}

/** Constants of the bound on the second layer, whose kernel K is [in, out]. */
export interface SecondLayerConstants {
  /** K^T, [out, in], for h = a @ K^T. */
  kernelTransposed: tf.Tensor2D;
  /** Q, orthonormal columns in the layer's input space, [in, rank]. */
  directions: tf.Tensor2D;
  rank: number;
  /**
   * Diagonal of G = (Q^T K)(Q^T K)^T, [rank]. Q is rotated so that G is diagonal up to rounding,
   * and c G c^T <= sum(diagonal * c^2) + offDiagonalNorm * |c|^2 for any row vector c.
   */
  directionGains: Float64Array;
  /** Frobenius norm of G's off-diagonal part, which bounds its spectral norm. */
  offDiagonalNorm: number;
  /** Upper bound of the spectral norm of (I - Q Q^T) K. */
  residualNorm: number;
}

export function prepareFastConstants(network: FFNetwork): FastConstants {
  const first = network.layers[0]!;
  const [inputSize, units] = first.kernel.shape;
  const labelValue = network.settings.labelValue;
  const sizes = network.architecture.layerSizes;
  const labelRowValues = tf.tidy(() =>
    tf.slice(first.kernel, [0, 0], [NUM_CLASSES, units]),
  );
  const constants: FastConstants = {
    units,
    inputSize,
    labelValue,
    kernelPixels: tf.slice(
      first.kernel,
      [NUM_CLASSES, 0],
      [inputSize - NUM_CLASSES, units],
    ),
    labelRows: tf.tidy(() =>
      tf.expandDims(tf.mul(labelRowValues, labelValue), 0),
    ) as tf.Tensor3D,
    labelRowValues: labelRowValues.dataSync() as Float32Array,
    counted: network.layers.map(
      (_, layer) => layer > 0 || !network.settings.predictionSkipsFirstLayer,
    ),
    goodnessWeights: Float64Array.from(network.layers, (_, layer) =>
      network.architecture.goodness === "mean" ? 1 / sizes[layer + 1]! : 1,
    ),
    spectralNorms: new Float64Array(network.layers.length),
    second: null,
  };
  labelRowValues.dispose();
  for (let layer = 2; layer < network.layers.length; layer++) {
    constants.spectralNorms[layer] = spectralNormUpperBound(
      network.layers[layer]!.kernel,
    );
  }
  if (network.layers.length > 1)
    constants.second = secondLayerConstants(network.layers[1]!.kernel);
  return constants;
}

export function disposeFastConstants(constants: FastConstants): void {
  constants.kernelPixels.dispose();
  constants.labelRows.dispose();
  constants.second?.kernelTransposed.dispose();
  constants.second?.directions.dispose();
}

/**
 * Finds the leading left singular directions of `kernel` by block power iteration on K K^T, with
 * the block orthonormalised in float64 after every step, then rotates them so that their Gram
 * matrix is diagonal. Any orthonormal Q gives a valid bound; directions closer to the leading
 * singular vectors only make it tighter.
 */
function secondLayerConstants(kernel: tf.Tensor2D): SecondLayerConstants {
  const [inputSize, outputSize] = kernel.shape;
  const rank = Math.min(PROJECTION_RANK, inputSize, outputSize);
  const kernelTransposed = tf.transpose(kernel);
  let block = orthonormalColumns(
    startingBlock(inputSize, rank),
    inputSize,
    rank,
  );
  for (let step = 0; step < SUBSPACE_ITERATIONS; step++) {
    const product = tf.tidy(() => {
      const q = tf.tensor2d(Float32Array.from(block), [inputSize, rank]);
      // K (K^T Q), with explicit transposes: matMul's transpose flags are slow on wasm.
      return tf.matMul(kernel, tf.matMul(kernelTransposed, q));
    });
    const values = product.dataSync();
    product.dispose();
    block = orthonormalColumns(Float64Array.from(values), inputSize, rank);
  }

  // Rayleigh-Ritz: rotate the block by the eigenvectors of its Gram matrix.
  const rotation = symmetricEigenvectors(
    directionGramOf(kernel, block, inputSize, rank),
    rank,
  );
  block = orthonormalColumns(
    multiply(block, rotation, inputSize, rank, rank),
    inputSize,
    rank,
  );
  const directionValues = Float32Array.from(block);
  const gram = directionGramOf(kernel, directionValues, inputSize, rank);
  const directionGains = new Float64Array(rank);
  let offDiagonalSquares = 0;
  for (let i = 0; i < rank; i++) {
    for (let j = 0; j < rank; j++) {
      if (i === j) directionGains[i] = gram[i * rank + j]!;
      else offDiagonalSquares += gram[i * rank + j]! ** 2;
    }
  }

  const directions = tf.tensor2d(directionValues, [inputSize, rank]);
  const residual = tf.tidy(() => {
    const projected = tf.matMul(tf.transpose(directions), kernel); // Q^T K
    return tf.sub(kernel, tf.matMul(directions, projected)) as tf.Tensor2D; // (I - Q Q^T) K
  });
  const residualNorm = spectralNormUpperBound(residual);
  residual.dispose();
  void outputSize;
  return {
    kernelTransposed,
    directions,
    rank,
    directionGains,
    offDiagonalNorm: Math.sqrt(offDiagonalSquares),
    residualNorm,
  };
}

/** (Q^T K)(Q^T K)^T in float64 for a [inputSize, rank] row-major block Q. */
function directionGramOf(
  kernel: tf.Tensor2D,
  block: ArrayLike<number>,
  inputSize: number,
  rank: number,
): Float64Array {
  const outputSize = kernel.shape[1];
  const projected = tf.tidy(() =>
    tf.matMul(
      tf.transpose(tf.tensor2d(Float32Array.from(block), [inputSize, rank])),
      kernel,
    ),
  );
  const values = projected.dataSync();
  projected.dispose();
  const gram = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let o = 0; o < outputSize; o++) {
        sum += values[i * outputSize + o]! * values[j * outputSize + o]!;
      }
      gram[i * rank + j] = sum;
      gram[j * rank + i] = sum;
    }
  }
  return gram;
}

/** Row-major [rows, inner] times [inner, columns]. */
function multiply(
  left: Float64Array,
  right: Float64Array,
  rows: number,
  inner: number,
  columns: number,
): Float64Array {
  const result = new Float64Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const value = left[i * inner + k]!;
      for (let j = 0; j < columns; j++) {
        result[i * columns + j]! += value * right[k * columns + j]!;
      }
    }
  }
  return result;
}

/**
 * Returns the eigenvectors of a symmetric [size, size] matrix as the columns of a row-major
 * matrix, by cyclic Jacobi rotations.
 */
export function symmetricEigenvectors(
  matrix: Float64Array,
  size: number,
): Float64Array {
  const a = Float64Array.from(matrix);
  const vectors = new Float64Array(size * size);
  for (let i = 0; i < size; i++) vectors[i * size + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let offDiagonal = 0;
    for (let p = 0; p < size; p++) {
      for (let q = p + 1; q < size; q++) offDiagonal += a[p * size + q]! ** 2;
    }
    if (offDiagonal < 1e-30) break;
    for (let p = 0; p < size; p++) {
      for (let q = p + 1; q < size; q++) {
        const apq = a[p * size + q]!;
        if (apq === 0) continue;
        const theta = (a[q * size + q]! - a[p * size + p]!) / (2 * apq);
        const t =
          Math.sign(theta || 1) /
          (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < size; k++) {
          const akp = a[k * size + p]!;
          const akq = a[k * size + q]!;
          a[k * size + p] = c * akp - s * akq;
          a[k * size + q] = s * akp + c * akq;
        }
        for (let k = 0; k < size; k++) {
          const apk = a[p * size + k]!;
          const aqk = a[q * size + k]!;
          a[p * size + k] = c * apk - s * aqk;
          a[q * size + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < size; k++) {
          const vkp = vectors[k * size + p]!;
          const vkq = vectors[k * size + q]!;
          vectors[k * size + p] = c * vkp - s * vkq;
          vectors[k * size + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return vectors;
}

/** Returns a fixed, full-rank starting block: column j is a cosine of frequency j + 1. */
function startingBlock(rows: number, columns: number): Float64Array {
  const block = new Float64Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      block[i * columns + j] =
        Math.cos(((i + 0.5) * (j + 1) * Math.PI) / rows) + (j === 0 ? 1 : 0);
    }
  }
  return block;
}

/**
 * Orthonormalises the columns of a [rows, columns] row-major matrix (columns <= rows) by modified
 * Gram-Schmidt, each column projected twice for float64 accuracy. A column that lies in the span
 * of the earlier ones is replaced by the next unit vector that does not.
 */
export function orthonormalColumns(
  matrix: Float64Array,
  rows: number,
  columns: number,
): Float64Array {
  const result = Float64Array.from(matrix);
  let nextUnit = 0;
  for (let j = 0; j < columns; j++) {
    for (;;) {
      for (let pass = 0; pass < 2; pass++) {
        for (let k = 0; k < j; k++) {
          let dot = 0;
          for (let i = 0; i < rows; i++)
            dot += result[i * columns + j]! * result[i * columns + k]!;
          for (let i = 0; i < rows; i++)
            result[i * columns + j]! -= dot * result[i * columns + k]!;
        }
      }
      let squares = 0;
      for (let i = 0; i < rows; i++) squares += result[i * columns + j]! ** 2;
      if (squares > 1e-20 || nextUnit >= rows) {
        const length = Math.sqrt(squares);
        for (let i = 0; i < rows; i++) result[i * columns + j]! /= length;
        break;
      }
      for (let i = 0; i < rows; i++)
        result[i * columns + j] = i === nextUnit ? 1 : 0;
      nextUnit += 1;
    }
  }
  return result;
}
