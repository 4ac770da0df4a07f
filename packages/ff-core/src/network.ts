import * as tf from "@tensorflow/tfjs-core";

import {
  NUM_CLASSES,
  validateModelSettings,
  type FFArchitecture,
  type FFSettings,
} from "./config.ts";
import { FFError } from "./errors.ts";
import { SeededRandom } from "./rng.ts";

/** Added to the L2 length or RMS before dividing, so an all-zero activity vector stays finite. */
export const NORM_EPSILON = 1e-4;

/** Images per chunk when scoring labels, to bound memory at about chunk x 10 x layer width. */
const SCORE_CHUNK_IMAGES = 1000;

/** One dense layer: activity = relu(normalise(input) @ kernel + bias). */
export interface FFLayer {
  /** [inputSize, outputSize] */
  kernel: tf.Variable<tf.Rank.R2>;
  /** [outputSize] */
  bias: tf.Variable<tf.Rank.R1>;
}

/** Plain arrays of one layer's parameters, row-major, as stored in weights.bin. */
export interface LayerArrays {
  kernel: Float32Array;
  bias: Float32Array;
}

/**
 * A Forward-Forward multilayer perceptron. Every method that returns a tensor leaves its disposal to
 * the caller; the network owns its variables until `dispose()`.
 */
export class FFNetwork {
  readonly architecture: FFArchitecture;
  readonly settings: FFSettings;
  readonly layers: FFLayer[];

  private constructor(
    architecture: FFArchitecture,
    settings: FFSettings,
    arrays: LayerArrays[],
  ) {
    validateModelSettings(architecture, settings);
    this.architecture = structuredClone(architecture);
    this.settings = structuredClone(settings);
    const sizes = architecture.layerSizes;
    this.layers = arrays.map((layer, i) => {
      const inputSize = sizes[i]!;
      const outputSize = sizes[i + 1]!;
      if (
        layer.kernel.length !== inputSize * outputSize ||
        layer.bias.length !== outputSize
      ) {
        throw new FFError(
          "MODEL_WEIGHTS",
          `layer ${i} needs a ${inputSize} x ${outputSize} kernel and ${outputSize} biases, ` +
            `got ${layer.kernel.length} and ${layer.bias.length} values`,
        );
      }
      return {
        kernel: toVariable(tf.tensor2d(layer.kernel, [inputSize, outputSize])),
        bias: toVariable(tf.tensor1d(layer.bias)),
      };
    });
  }

  /**
   * Creates a network with weights and biases drawn uniformly from
   * [-1/sqrt(inputSize), 1/sqrt(inputSize)], the initialisation of PyTorch's nn.Linear.
   */
  static create(
    architecture: FFArchitecture,
    settings: FFSettings,
    seed: number,
  ): FFNetwork {
    validateModelSettings(architecture, settings);
    const random = new SeededRandom(seed);
    const sizes = architecture.layerSizes;
    const arrays: LayerArrays[] = [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const bound = 1 / Math.sqrt(sizes[i]!);
      arrays.push({
        kernel: random.uniform(sizes[i]! * sizes[i + 1]!, -bound, bound),
        bias: random.uniform(sizes[i + 1]!, -bound, bound),
      });
    }
    return new FFNetwork(architecture, settings, arrays);
  }

  /** Creates a network from stored parameters, validating their sizes. */
  static fromArrays(
    architecture: FFArchitecture,
    settings: FFSettings,
    arrays: LayerArrays[],
  ): FFNetwork {
    const layerCount = architecture.layerSizes.length - 1;
    if (arrays.length !== layerCount) {
      throw new FFError(
        "MODEL_WEIGHTS",
        `the architecture has ${layerCount} layers but ${arrays.length} were given`,
      );
    }
    return new FFNetwork(architecture, settings, arrays);
  }

  get inputSize(): number {
    return this.architecture.layerSizes[0]!;
  }

  /** Copies every layer's parameters out of the backend. */
  toArrays(): LayerArrays[] {
    return this.layers.map((layer) => ({
      kernel: layer.kernel.dataSync() as Float32Array,
      bias: layer.bias.dataSync() as Float32Array,
    }));
  }

  dispose(): void {
    for (const layer of this.layers) {
      layer.kernel.dispose();
      layer.bias.dispose();
    }
  }

  /** Maps raw pixels in [0, 1] to network inputs (the recipe's standardisation, if any). */
  standardize(raw: tf.Tensor2D): tf.Tensor2D {
    const standardization = this.settings.inputStandardization;
    if (standardization === null) return tf.clone(raw);
    return tf.tidy(() =>
      tf.div(tf.sub(raw, standardization.mean), standardization.std),
    );
  }

  /** Replaces the first 10 inputs of each row by the one-hot label scaled to the label value. */
  embedLabels(inputs: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor2D {
    return embedLabels(inputs, labels, this.settings.labelValue);
  }

  /** Divides each row by its L2 length or RMS (plus NORM_EPSILON). */
  normalizeRows(x: tf.Tensor2D): tf.Tensor2D {
    return normalizeRows(x, this.architecture.normalization);
  }

  /** Mean or sum of squared activities per row: [rows, units] -> [rows]. */
  goodness(activity: tf.Tensor2D): tf.Tensor1D {
    return goodnessOf(activity, this.architecture.goodness);
  }

  /** Computes the activity of layer `index` for a layer input: relu(normalise(input) @ kernel + bias). */
  layerActivity(index: number, input: tf.Tensor2D): tf.Tensor2D {
    const layer = this.layers[index]!;
    return tf.tidy(
      (): tf.Tensor2D =>
        tf.relu(
          tf.add(
            tf.matMul(this.normalizeRows(input), layer.kernel),
            layer.bias,
          ),
        ) as tf.Tensor2D,
    );
  }

  /**
   * Runs the whole network on label-embedded inputs and returns each layer's goodness,
   * [rows, layers]. This is the plain definition, with no shortcuts.
   */
  layerGoodness(embedded: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const goodness: tf.Tensor1D[] = [];
      let input: tf.Tensor2D = embedded;
      for (let i = 0; i < this.layers.length; i++) {
        const activity = this.layerActivity(i, input);
        goodness.push(this.goodness(activity));
        input = activity;
      }
      return tf.stack(goodness, 1) as tf.Tensor2D;
    });
  }

  /**
   * Total goodness of each label for each raw image, [images, 10], by the plain definition: embed
   * each label in turn and run the full network. The recipe decides whether the first layer counts.
   */
  labelScoresPlain(raw: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const inputs = this.standardize(raw);
      const rows = raw.shape[0];
      const perLabel: tf.Tensor1D[] = [];
      for (let label = 0; label < NUM_CLASSES; label++) {
        const labels = tf.fill([rows], label, "int32") as tf.Tensor1D;
        const goodness = this.layerGoodness(this.embedLabels(inputs, labels));
        perLabel.push(this.sumCountedLayers(goodness));
      }
      return tf.stack(perLabel, 1) as tf.Tensor2D;
    });
  }

  /**
   * Same values as `labelScoresPlain` up to float rounding, computed faster: the image part of the
   * first layer's product is shared by the 10 label embeddings, which differ only in one kernel row.
   */
  labelScores(raw: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const rows = raw.shape[0];
      const chunks: tf.Tensor2D[] = [];
      for (let start = 0; start < rows; start += SCORE_CHUNK_IMAGES) {
        const size = Math.min(SCORE_CHUNK_IMAGES, rows - start);
        chunks.push(
          tf.tidy(() => {
            const chunk = tf.slice(raw, [start, 0], [size, raw.shape[1]]);
            const perLayer = this.allLabelGoodness(this.standardize(chunk)); // [size, 10, layers]
            const counted = this.settings.predictionSkipsFirstLayer
              ? tf.slice(perLayer, [0, 0, 1], [-1, -1, -1])
              : perLayer;
            return tf.sum(counted, 2) as tf.Tensor2D;
          }),
        );
      }
      return chunks.length === 1
        ? chunks[0]!
        : (tf.concat(chunks, 0) as tf.Tensor2D);
    });
  }

  /**
   * Goodness of every layer for every label, [rows, 10, layers], for standardised inputs whose
   * label pixels are ignored. Shares the first layer's image product between labels.
   */
  allLabelGoodness(inputs: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const rows = inputs.shape[0];
      const first = this.firstLayerAllLabels(inputs); // [rows, 10, units]
      const units = first.shape[2];
      const goodness: tf.Tensor2D[] = [
        tf.reshape(
          this.goodness(tf.reshape(first, [rows * NUM_CLASSES, units])),
          [rows, NUM_CLASSES],
        ),
      ];
      let activity = tf.reshape(first, [
        rows * NUM_CLASSES,
        units,
      ]) as tf.Tensor2D;
      for (let i = 1; i < this.layers.length; i++) {
        activity = this.layerActivity(i, activity);
        goodness.push(tf.reshape(this.goodness(activity), [rows, NUM_CLASSES]));
      }
      return tf.stack(goodness, 2) as tf.Tensor3D;
    });
  }

  /**
   * First-layer activity for all 10 label embeddings, [rows, 10, units]. The label pixels only add
   * `labelValue * kernel[label]`, and every embedding has the same norm, so the product of the
   * other pixels is computed once.
   */
  firstLayerAllLabels(inputs: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const { imageProduct, norm } = this.firstLayerImagePart(inputs);
      const layer = this.layers[0]!;
      const labelRows = tf.mul(
        tf.slice(layer.kernel, [0, 0], [NUM_CLASSES, -1]),
        this.settings.labelValue,
      ); // [10, units]
      const preActivation = tf.add(
        tf.div(
          tf.add(tf.expandDims(imageProduct, 1), tf.expandDims(labelRows, 0)),
          tf.reshape(norm, [-1, 1, 1]),
        ),
        layer.bias,
      );
      return tf.relu(preActivation) as tf.Tensor3D;
    });
  }

  /**
   * The label-independent part of the first layer: `imageProduct` = pixels[:, 10:] @ kernel[10:]
   * ([rows, units]) and `norm`, the L2 length or RMS of the embedded input plus NORM_EPSILON
   * ([rows]), which is the same for every label.
   */
  firstLayerImagePart(inputs: tf.Tensor2D): {
    imageProduct: tf.Tensor2D;
    norm: tf.Tensor1D;
  } {
    return tf.tidy(() => {
      const pixels = tf.slice(inputs, [0, NUM_CLASSES], [-1, -1]);
      const kernel = tf.slice(
        this.layers[0]!.kernel,
        [NUM_CLASSES, 0],
        [-1, -1],
      );
      const imageProduct = tf.matMul(pixels, kernel) as tf.Tensor2D;
      const squaredLength: tf.Tensor1D = tf.add(
        tf.sum(tf.square(pixels), 1),
        this.settings.labelValue ** 2,
      );
      return {
        imageProduct,
        norm: normFromSquaredLength(
          squaredLength,
          inputs.shape[1],
          this.architecture.normalization,
        ),
      };
    });
  }

  /** Predicted labels for raw images in [0, 1], [images] int32. */
  predict(raw: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.argMax(this.labelScores(raw), 1) as tf.Tensor1D);
  }

  private sumCountedLayers(goodness: tf.Tensor2D): tf.Tensor1D {
    const counted = this.settings.predictionSkipsFirstLayer
      ? tf.slice(goodness, [0, 1], [-1, -1])
      : goodness;
    return tf.sum(counted, 1) as tf.Tensor1D;
  }
}

/** Moves a tensor into a new unnamed variable and disposes the tensor. */
function toVariable<R extends tf.Rank>(initial: tf.Tensor<R>): tf.Variable<R> {
  const variable = tf.variable(initial);
  initial.dispose();
  return variable;
}

/** Replaces the first 10 columns by `labelValue` times the one-hot label. */
export function embedLabels(
  inputs: tf.Tensor2D,
  labels: tf.Tensor1D,
  labelValue: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const oneHot = tf.mul(
      tf.oneHot(tf.cast(labels, "int32"), NUM_CLASSES),
      labelValue,
    );
    const pixels = tf.slice(inputs, [0, NUM_CLASSES], [-1, -1]);
    return tf.concat([tf.cast(oneHot, "float32"), pixels], 1) as tf.Tensor2D;
  });
}

/** Divides each row by its L2 length or RMS plus NORM_EPSILON. */
export function normalizeRows(
  x: tf.Tensor2D,
  normalization: "l2" | "rms",
): tf.Tensor2D {
  return tf.tidy(() => {
    const squaredLength = tf.sum(tf.square(x), 1) as tf.Tensor1D;
    const norm = normFromSquaredLength(
      squaredLength,
      x.shape[1],
      normalization,
    );
    return tf.div(x, tf.expandDims(norm, 1));
  });
}

/** Turns squared L2 lengths into the divisor of the normalisation: length or RMS, plus epsilon. */
export function normFromSquaredLength(
  squaredLength: tf.Tensor1D,
  width: number,
  normalization: "l2" | "rms",
): tf.Tensor1D {
  return tf.tidy(() => {
    const meanOrSum =
      normalization === "rms" ? tf.div(squaredLength, width) : squaredLength;
    return tf.add(tf.sqrt(meanOrSum), NORM_EPSILON) as tf.Tensor1D;
  });
}

/** Mean or sum of squared activities per row. */
export function goodnessOf(
  activity: tf.Tensor2D,
  kind: "mean" | "sum",
): tf.Tensor1D {
  return tf.tidy(() => {
    const squares = tf.square(activity);
    return (
      kind === "mean" ? tf.mean(squares, 1) : tf.sum(squares, 1)
    ) as tf.Tensor1D;
  });
}
