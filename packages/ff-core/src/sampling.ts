import type { TrainingSettings } from "./config.ts";
import { drawWrongLabels } from "./data.ts";
import { FFError } from "./errors.ts";
import { FFNetwork } from "./network.ts";
import { SeededRandom } from "./rng.ts";
import type { TrainOptions } from "./train.ts";

/** The rows of one optimiser step and their negative labels. */
export interface Batch {
  /** Positions in the training set; null for the whole set in order. */
  indices: Int32Array | null;
  size: number;
  /** The negative label of each row, or null for hard negatives, which the first layer picks. */
  negatives: Int32Array | null;
}

/**
 * Creates the network to train and the batch sampler from the recipe's seed. Every draw of the
 * seeded generator happens here or in the sampler, in the same order for every way of training,
 * so the same seed gives the same batches whether training runs on one thread or several.
 */
export function startRun(options: TrainOptions): {
  network: FFNetwork;
  sampler: BatchSampler;
} {
  const { recipe } = options;
  const random = new SeededRandom(recipe.training.seed);
  const initSeed = random.nextInt(2 ** 31);
  const network =
    options.network ??
    FFNetwork.create(recipe.architecture, recipe.settings, initSeed);
  if (
    JSON.stringify(network.architecture) !== JSON.stringify(recipe.architecture)
  ) {
    throw new FFError(
      "INVALID_CONFIG",
      `the network to train has layers ${network.architecture.layerSizes.join("-")} ` +
        `but the recipe has ${recipe.architecture.layerSizes.join("-")}; use the same architecture`,
    );
  }
  const count = Math.min(recipe.training.trainCount, options.train.count);
  const labels = Int32Array.from(options.train.labels.subarray(0, count));
  return {
    network,
    sampler: new BatchSampler(labels, recipe.training, random),
  };
}

/** Draws the shuffling of each epoch and the negative labels of each batch. */
export class BatchSampler {
  readonly count: number;
  /** Images per step: the recipe's batch size, or `count` for full batch. */
  readonly batchSize: number;
  /** One wrong label per image, drawn once, for `fixed` negatives; null otherwise. */
  readonly fixedNegatives: Int32Array | null;

  constructor(
    readonly labels: Int32Array,
    private readonly training: TrainingSettings,
    private readonly random: SeededRandom,
  ) {
    this.count = labels.length;
    const requested = training.batchSize;
    this.batchSize =
      requested === 0 || requested >= this.count ? this.count : requested;
    this.fixedNegatives =
      training.negatives === "fixed" ? drawWrongLabels(labels, random) : null;
  }

  get stepsPerEpoch(): number {
    return Math.ceil(this.count / this.batchSize);
  }

  /**
   * Yields the batches of one epoch. Resampled negative labels are drawn as each batch is
   * yielded, so the batches of an epoch must be taken in order.
   */
  *epoch(): Generator<Batch> {
    if (this.batchSize === this.count) {
      yield this.batchOf(null);
      return;
    }
    const order = this.random.permutation(this.count);
    for (let start = 0; start < this.count; start += this.batchSize) {
      yield this.batchOf(
        order.subarray(start, Math.min(start + this.batchSize, this.count)),
      );
    }
  }

  /** Builds the batch of the given rows (null for all), drawing its negative labels if they are resampled. */
  batchOf(indices: Int32Array | null): Batch {
    const size = indices === null ? this.count : indices.length;
    const labels =
      indices === null
        ? this.labels
        : Int32Array.from(indices, (i) => this.labels[i]!);
    let negatives: Int32Array | null = null;
    if (this.training.negatives === "resample") {
      negatives = drawWrongLabels(labels, this.random);
    } else if (this.fixedNegatives !== null) {
      const fixed = this.fixedNegatives;
      negatives =
        indices === null ? fixed : Int32Array.from(indices, (i) => fixed[i]!);
    }
    return { indices, size, negatives };
  }
}
