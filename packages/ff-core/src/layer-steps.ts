import * as tf from "@tensorflow/tfjs-core";

import { NUM_CLASSES, type Recipe } from "./config.ts";
import { rawImagesToTensor, type LabelledImages } from "./data.ts";
import {
  goodnessOf,
  normFromSquaredLength,
  type FFNetwork,
} from "./network.ts";
import type { Batch } from "./sampling.ts";

/** Gradients and loss of one layer for one step. */
export interface LayerStep {
  /**
   * Gradients of the layer's kernel variables, in the order of `LayerSteps.trainableVariables`:
   * the label rows then the pixel rows for the first layer, the whole kernel for the others.
   */
  kernelGradients: tf.Tensor2D[];
  biasGradient: tf.Tensor1D;
  loss: tf.Scalar;
}

/** Returns a step's gradients in the order of `LayerSteps.trainableVariables`. */
export function stepGradients(step: LayerStep): tf.Tensor[] {
  return [...step.kernelGradients, step.biasGradient];
}

/**
 * The first layer's kernel as two variables, its 10 label rows and its pixel rows, while that layer
 * trains. A slice on the wasm backend reads the whole input back before copying the part (tfjs
 * 4.22), so slicing the kernel on every step cost about a quarter of a 784-500 step. Adam updates
 * every element on its own, so training the two parts gives the numbers that training the whole
 * kernel gives.
 */
class SplitKernel {
  readonly labelRows: tf.Variable<tf.Rank.R2>;
  readonly pixelRows: tf.Variable<tf.Rank.R2>;

  constructor(kernel: tf.Tensor2D) {
    const [labelRows, pixelRows] = tf.split(kernel, [
      NUM_CLASSES,
      kernel.shape[0] - NUM_CLASSES,
    ]) as [tf.Tensor2D, tf.Tensor2D];
    this.labelRows = tf.variable(labelRows);
    this.pixelRows = tf.variable(pixelRows);
    tf.dispose([labelRows, pixelRows]);
  }

  /** Returns the whole kernel, label rows first, as a new tensor. */
  joined(): tf.Tensor2D {
    return tf.concat([this.labelRows, this.pixelRows], 0);
  }

  dispose(): void {
    this.labelRows.dispose();
    this.pixelRows.dispose();
  }
}

/** The training images as the first layer's steps read them, prepared once. */
export class TrainingImages {
  readonly count: number;
  readonly labelTensor: tf.Tensor1D;
  /** Standardised pixels without the 10 label pixels, [count, inputSize - 10]. */
  readonly pixels: tf.Tensor2D;
  /** Squared L2 length of each row of `pixels`, [count]. */
  readonly pixelSquares: tf.Tensor1D;
  /** Transpose of `pixels`, kept for full-batch training, [inputSize - 10, count]. */
  readonly pixelsTransposed: tf.Tensor2D | null;

  /** Standardises the first `labels.length` images the way `network` does. */
  constructor(
    network: FFNetwork,
    train: LabelledImages,
    labels: Int32Array,
    keepTranspose: boolean,
  ) {
    this.count = labels.length;
    this.labelTensor = tf.tensor1d(labels, "int32");
    const prepared = tf.tidy(() => {
      const inputs = network.standardize(
        rawImagesToTensor(train, 0, this.count),
      );
      const pixels = tf.slice(inputs, [0, NUM_CLASSES], [-1, -1]);
      return { pixels, squares: tf.sum(tf.square(pixels), 1) };
    });
    this.pixels = prepared.pixels as tf.Tensor2D;
    this.pixelSquares = prepared.squares as tf.Tensor1D;
    this.pixelsTransposed = keepTranspose ? tf.transpose(this.pixels) : null;
    this.pixelValues = this.pixels.dataSync() as Float32Array;
    this.squareValues = this.pixelSquares.dataSync() as Float32Array;
    this.labels = labels;
  }

  /** Host copies of `pixels`, `pixelSquares` and the labels, for `batchRows`. */
  private readonly pixelValues: Float32Array;
  private readonly squareValues: Float32Array;
  private readonly labels: Int32Array;

  /**
   * Returns the pixels, squared lengths and labels of a batch's rows. Mini-batch rows are copied
   * on the host, because on the wasm backend a gather of a hundred rows takes milliseconds per
   * step. The values are the same float32 numbers either way.
   */
  batchRows(batch: Batch): {
    pixels: tf.Tensor2D;
    squares: tf.Tensor1D;
    labels: tf.Tensor1D;
  } {
    if (batch.indices === null) {
      return {
        pixels: tf.clone(this.pixels),
        squares: tf.clone(this.pixelSquares),
        labels: tf.clone(this.labelTensor),
      };
    }
    const width = this.pixels.shape[1];
    const pixels = new Float32Array(batch.size * width);
    const squares = new Float32Array(batch.size);
    const labels = new Int32Array(batch.size);
    for (let i = 0; i < batch.size; i++) {
      const row = batch.indices[i]!;
      pixels.set(
        this.pixelValues.subarray(row * width, (row + 1) * width),
        i * width,
      );
      squares[i] = this.squareValues[row]!;
      labels[i] = this.labels[row]!;
    }
    return {
      pixels: tf.tensor2d(pixels, [batch.size, width]),
      squares: tf.tensor1d(squares),
      labels: tf.tensor1d(labels, "int32"),
    };
  }

  dispose(): void {
    this.labelTensor.dispose();
    this.pixels.dispose();
    this.pixelSquares.dispose();
    this.pixelsTransposed?.dispose();
  }
}

/**
 * The forward pass and closed-form gradients of single layers, shared by training on one thread
 * and by the stages of the pipeline, so that both run the same tensor operations. The step methods
 * return new tensors and are meant to run inside `tf.tidy`. The methods that manage the first
 * layer's split kernel (`trainableVariables`, `syncFirstKernel`, `releaseFirstKernel`, `dispose`)
 * run outside it.
 */
export class LayerSteps {
  /** The first layer's kernel in two parts while that layer trains; null otherwise. */
  private split: SplitKernel | null = null;

  constructor(
    private readonly recipe: Recipe,
    private readonly network: FFNetwork,
    /** Needed by `firstLayerStep` only. */
    private readonly images: TrainingImages | null,
  ) {}

  /**
   * Returns the variables that the gradients of `layers` update, in the order of `stepGradients`.
   * For the first layer these are the two parts of its kernel and its bias. `syncFirstKernel`
   * copies the parts into the network, and `releaseFirstKernel` does so and frees them.
   */
  trainableVariables(layers: number[]): tf.Variable[] {
    return layers.flatMap((index) => {
      const layer = this.network.layers[index]!;
      if (index > 0) return [layer.kernel, layer.bias];
      this.split ??= new SplitKernel(layer.kernel);
      return [this.split.labelRows, this.split.pixelRows, layer.bias];
    });
  }

  /** Copies the parts of the first layer's kernel, while it trains, into the network's kernel. */
  syncFirstKernel(): void {
    if (this.split === null) return;
    const joined = this.split.joined();
    this.network.layers[0]!.kernel.assign(joined);
    joined.dispose();
  }

  /** Copies the first layer's kernel into the network and frees its parts. */
  releaseFirstKernel(): void {
    this.syncFirstKernel();
    this.dispose();
  }

  /** Frees the first layer's kernel parts without copying them into the network. */
  dispose(): void {
    this.split?.dispose();
    this.split = null;
  }

  /** The first layer's label rows and pixel rows: the trained parts, or slices of the kernel. */
  private firstKernelParts(): { labels: tf.Tensor2D; pixels: tf.Tensor2D } {
    if (this.split !== null)
      return { labels: this.split.labelRows, pixels: this.split.pixelRows };
    const kernel = this.network.layers[0]!.kernel;
    return {
      labels: tf.slice(kernel, [0, 0], [NUM_CLASSES, -1]),
      pixels: tf.slice(kernel, [NUM_CLASSES, 0], [-1, -1]),
    };
  }

  /**
   * First layer for positive and negative rows. Returns their activity stacked positive first,
   * [2 * batch, units], and the gradients when the layer is trained.
   */
  firstLayerStep(
    batch: Batch,
    train: boolean,
  ): { activity: tf.Tensor2D; step: LayerStep | null } {
    const images = this.images!;
    const settings = this.recipe.settings;
    const architecture = this.recipe.architecture;
    const layer = this.network.layers[0]!;
    const batchRows = images.batchRows(batch);
    const pixels = batchRows.pixels; // [batch, inputSize - 10]
    const squares = batchRows.squares;
    const { labels: kernelLabels, pixels: kernelPixels } =
      this.firstKernelParts();
    const imageProduct = tf.matMul(pixels, kernelPixels) as tf.Tensor2D; // [batch, units]
    const norm = normFromSquaredLength(
      tf.add(squares, settings.labelValue ** 2),
      architecture.layerSizes[0]!,
      architecture.normalization,
    );
    const normColumn = tf.expandDims(norm, 1); // [batch, 1]
    const positives = batchRows.labels;
    const negatives =
      batch.negatives === null
        ? this.hardNegatives(imageProduct, norm, positives, kernelLabels)
        : tf.tensor1d(batch.negatives, "int32");
    const activityOf = (labels: tf.Tensor1D): tf.Tensor2D =>
      tf.relu(
        tf.add(
          tf.div(
            tf.add(
              imageProduct,
              tf.mul(labelRowsOf(labels, kernelLabels), settings.labelValue),
            ),
            normColumn,
          ),
          layer.bias,
        ),
      ) as tf.Tensor2D;
    const positiveActivity = activityOf(positives);
    const negativeActivity = activityOf(negatives);
    const activity = tf.concat(
      [positiveActivity, negativeActivity],
      0,
    ) as tf.Tensor2D;
    if (!train) return { activity, step: null };

    const { loss, coefficients } = this.localLoss(activity, batch.size);
    // Positive and negative rows separately, because slicing the product of all rows would read
    // it all back on the wasm backend.
    const positiveGradient = tf.mul(
      positiveActivity,
      tf.expandDims(tf.slice(coefficients, [0], [batch.size]), 1),
    );
    const negativeGradient = tf.mul(
      negativeActivity,
      tf.expandDims(tf.slice(coefficients, [batch.size], [batch.size]), 1),
    );
    const preActivationGradient = tf.concat(
      [positiveGradient, negativeGradient],
      0,
    );
    const scaledPositive = tf.div(positiveGradient, normColumn);
    const scaledNegative = tf.div(negativeGradient, normColumn);
    const pixelsTransposed =
      batch.indices === null && images.pixelsTransposed !== null
        ? images.pixelsTransposed
        : tf.transpose(pixels);
    // NOTE: an explicit transpose and a plain matMul is about 7x faster on the wasm backend than
    // matMul with transposeA set (measured with tfjs 4.22 in Node 20).
    const pixelGradient: tf.Tensor2D = tf.matMul(
      pixelsTransposed,
      tf.add(scaledPositive, scaledNegative),
    );
    // Sums the rows of each label: oneHot^T @ rows, since the wasm backend has no UnsortedSegmentSum.
    const labelGradient: tf.Tensor2D = tf.mul(
      tf.add(
        tf.matMul(
          tf.transpose(tf.oneHot(positives, NUM_CLASSES)),
          scaledPositive,
        ),
        tf.matMul(
          tf.transpose(tf.oneHot(negatives, NUM_CLASSES)),
          scaledNegative,
        ),
      ),
      settings.labelValue,
    );
    return {
      activity,
      step: {
        kernelGradients: [labelGradient, pixelGradient],
        biasGradient: tf.sum(preActivationGradient, 0) as tf.Tensor1D,
        loss,
      },
    };
  }

  /** One layer above the first on normalised positive-then-negative rows, with its gradients. */
  denseLayerStep(
    index: number,
    normalized: tf.Tensor2D,
    batchSize: number,
    transposed: tf.Tensor2D | null,
  ): LayerStep & { activity: tf.Tensor2D } {
    const layer = this.network.layers[index]!;
    const activity = tf.relu(
      tf.add(tf.matMul(normalized, layer.kernel), layer.bias),
    ) as tf.Tensor2D;
    const { loss, coefficients } = this.localLoss(activity, batchSize);
    const preActivationGradient = tf.mul(
      activity,
      tf.expandDims(coefficients, 1),
    );
    const inputTransposed = transposed ?? tf.transpose(normalized);
    return {
      activity,
      kernelGradients: [tf.matMul(inputTransposed, preActivationGradient)],
      biasGradient: tf.sum(preActivationGradient, 0) as tf.Tensor1D,
      loss,
    };
  }

  /** The wrong label with the highest first-layer goodness for each row, [batch] int32. */
  private hardNegatives(
    imageProduct: tf.Tensor2D,
    norm: tf.Tensor1D,
    positives: tf.Tensor1D,
    kernelLabels: tf.Tensor2D,
  ): tf.Tensor1D {
    return tf.tidy(() => {
      const layer = this.network.layers[0]!;
      const labelRows = tf.mul(kernelLabels, this.recipe.settings.labelValue);
      const activity = tf.relu(
        tf.add(
          tf.div(
            tf.add(tf.expandDims(imageProduct, 1), tf.expandDims(labelRows, 0)),
            tf.reshape(norm, [-1, 1, 1]),
          ),
          layer.bias,
        ),
      ); // [batch, 10, units]
      const goodness = tf.sum(tf.square(activity), 2); // order is all that matters, so no mean
      const isTrue = tf.oneHot(positives, NUM_CLASSES);
      const masked = tf.where(
        tf.cast(isTrue, "bool"),
        tf.fill(goodness.shape, -Infinity),
        goodness,
      );
      return tf.cast(tf.argMax(masked, 1), "int32") as tf.Tensor1D;
    });
  }

  /**
   * The FF loss of one layer and its gradient with respect to the pre-activation, in closed form:
   * the gradient is each activity row times its entry of `coefficients`.
   * With g = c * sum(y^2) (c = 1/units for mean goodness, 1 for sum) and y = relu(z):
   * dg/dz = 2c * y, d softplus(t - g)/dg = -sigmoid(t - g), d softplus(g - t)/dg = sigmoid(g - t).
   * The loss is the mean over positive rows plus the mean over negative rows.
   */
  private localLoss(
    activity: tf.Tensor2D,
    batchSize: number,
  ): { loss: tf.Scalar; coefficients: tf.Tensor1D } {
    const { threshold } = this.recipe.settings;
    const kind = this.recipe.architecture.goodness;
    const units = activity.shape[1];
    const goodness = goodnessOf(activity, kind);
    const positive = tf.slice(goodness, [0], [batchSize]);
    const negative = tf.slice(goodness, [batchSize], [batchSize]);
    const positiveMargin = tf.sub(threshold, positive);
    const negativeMargin = tf.sub(negative, threshold);
    const loss = tf.add(
      tf.mean(tf.softplus(positiveMargin)),
      tf.mean(tf.softplus(negativeMargin)),
    ) as tf.Scalar;
    const scale = (2 * (kind === "mean" ? 1 / units : 1)) / batchSize;
    const coefficients = tf.concat([
      tf.mul(tf.sigmoid(positiveMargin), -scale),
      tf.mul(tf.sigmoid(negativeMargin), scale),
    ]) as tf.Tensor1D; // [2 * batch]
    return { loss, coefficients };
  }
}

/**
 * Returns row `labels[i]` of `rows` for each i, as a one-hot product. On the wasm backend this took
 * 0.21 ms against 0.74 ms for tf.gather of 50 rows in a one-off timing (tfjs 4.22). On the cpu and wasm backends the numbers
 * are the same, because each output sums one row times 1 and zeros of finite values.
 */
function labelRowsOf(labels: tf.Tensor1D, rows: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(tf.oneHot(labels, NUM_CLASSES), rows);
}
