import { readFile, stat } from "node:fs/promises";
import path from "node:path";

import {
  validateModelSettings,
  type FFArchitecture,
  type FFSettings,
  type NegativeLabels,
  type Schedule,
} from "./config.ts";
import { writeFileAtomic } from "./atomic.ts";
import { FFError } from "./errors.ts";
import { FFNetwork, type LayerArrays } from "./network.ts";

export const MODEL_FORMAT = "ffads-model";
export const MODEL_FORMAT_VERSION = 1;
export const MODEL_FILE = "model.json";
export const WEIGHTS_FILE = "weights.bin";

/** One tensor of the tfjs weights manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: "float32";
}

/** The contents of model.json; docs/formats.md describes every field. */
export interface ModelFile {
  format: typeof MODEL_FORMAT;
  version: number;
  kind: "ff";
  architecture: FFArchitecture & { activation: "relu" };
  recipe: FFSettings & {
    name: string;
    negatives: NegativeLabels;
    schedule: Schedule;
  };
  training: {
    epochs: number;
    batchSize: number;
    learningRate: number;
    learningRateDecay: number;
    seed: number;
    backend: string;
    trainCount: number;
    wallTimeMs: number;
    stopped: boolean;
  };
  dataset: { name: string; imageShape: [number, number]; classNames: string[] };
  metrics: { trainAccuracy: number | null; testAccuracy: number | null };
  lossHistory: { unit: "epoch"; layers: number[][] };
  createdAt: string;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/** Everything of model.json except the format fields and the weights manifest. */
export type ModelMetadata = Omit<
  ModelFile,
  | "format"
  | "version"
  | "weightsManifest"
  | "architecture"
  | "createdAt"
  | "kind"
> & { kind?: "ff" };

/** A network with the metadata it was saved with. */
export interface LoadedModel {
  network: FFNetwork;
  model: ModelFile;
  directory: string;
}

/**
 * Writes model.json and weights.bin into `directory`, each atomically. weights.bin is written
 * first, so a model.json on disk always has its weights beside it.
 */
export async function saveModel(
  directory: string,
  network: FFNetwork,
  metadata: ModelMetadata,
): Promise<ModelFile> {
  const arrays = network.toArrays();
  const sizes = network.architecture.layerSizes;
  const weights: WeightSpec[] = [];
  const parts: Float32Array[] = [];
  arrays.forEach((layer, i) => {
    weights.push({
      name: `layer${i}/kernel`,
      shape: [sizes[i]!, sizes[i + 1]!],
      dtype: "float32",
    });
    weights.push({
      name: `layer${i}/bias`,
      shape: [sizes[i + 1]!],
      dtype: "float32",
    });
    parts.push(layer.kernel, layer.bias);
  });
  const model: ModelFile = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    kind: "ff",
    architecture: { ...network.architecture, activation: "relu" },
    ...structuredClone(metadata),
    createdAt: new Date().toISOString(),
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights }],
  };
  await writeFileAtomic(
    path.join(directory, WEIGHTS_FILE),
    float32LittleEndian(parts),
  );
  await writeFileAtomic(
    path.join(directory, MODEL_FILE),
    `${JSON.stringify(model, null, 2)}\n`,
  );
  return model;
}

/** Reads a model folder back into a network whose weights equal the saved ones bit for bit. */
export async function loadModel(directory: string): Promise<LoadedModel> {
  const modelPath = path.join(directory, MODEL_FILE);
  const model = parseModelFile(await readModelText(modelPath), modelPath);
  const weightsPath = path.join(directory, model.weightsManifest[0]!.paths[0]!);
  const specs = model.weightsManifest[0]!.weights;
  const expectedValues = specs.reduce(
    (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1),
    0,
  );
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(weightsPath));
  } catch {
    throw new FFError(
      "MODEL_WEIGHTS",
      `${weightsPath} is missing; the model folder is incomplete, so train the model again or copy the whole folder`,
    );
  }
  if (bytes.length !== expectedValues * 4) {
    throw new FFError(
      "MODEL_WEIGHTS",
      `${weightsPath} has ${bytes.length} bytes but ${MODEL_FILE} lists ${expectedValues} float32 values ` +
        `(${expectedValues * 4} bytes); the file is truncated or from another model, so train or copy it again`,
    );
  }
  const values = readFloat32LittleEndian(bytes);
  const byName = new Map<string, Float32Array>();
  let offset = 0;
  for (const spec of specs) {
    const length = spec.shape.reduce((a, b) => a * b, 1);
    byName.set(spec.name, values.subarray(offset, offset + length));
    offset += length;
  }
  const arrays: LayerArrays[] = [];
  for (let i = 0; i + 1 < model.architecture.layerSizes.length; i++) {
    const kernel = byName.get(`layer${i}/kernel`);
    const bias = byName.get(`layer${i}/bias`);
    if (kernel === undefined || bias === undefined) {
      throw new FFError(
        "MODEL_FORMAT",
        `${modelPath} lists no weights named layer${i}/kernel and layer${i}/bias`,
      );
    }
    arrays.push({ kernel, bias });
  }
  const { activation: _activation, ...architecture } = model.architecture;
  const {
    name: _name,
    negatives: _negatives,
    schedule: _schedule,
    ...settings
  } = model.recipe;
  const network = FFNetwork.fromArrays(architecture, settings, arrays);
  return { network, model, directory };
}

/** Checks format, version and the fields the loader needs; returns the typed contents. */
export function parseModelFile(text: string, modelPath: string): ModelFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath} is not valid JSON (${(error as Error).message})`,
    );
  }
  const model = parsed as Partial<ModelFile>;
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    model.format !== MODEL_FORMAT
  ) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath} is not a model file: its "format" field is not "${MODEL_FORMAT}"`,
    );
  }
  if (model.version !== MODEL_FORMAT_VERSION) {
    throw new FFError(
      "MODEL_VERSION",
      `${modelPath} has format version ${String(model.version)}, but this toolkit reads version ${MODEL_FORMAT_VERSION}; ` +
        "use the toolkit version that wrote it or train the model again",
    );
  }
  const manifest = model.weightsManifest;
  if (
    !Array.isArray(manifest) ||
    manifest.length !== 1 ||
    !Array.isArray(manifest[0]?.paths) ||
    manifest[0].paths.length !== 1 ||
    !Array.isArray(manifest[0].weights)
  ) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath}: "weightsManifest" must list one weights file with its weights`,
    );
  }
  if (
    typeof model.architecture !== "object" ||
    typeof model.recipe !== "object" ||
    model.architecture === null ||
    model.recipe === null
  ) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath} lacks the "architecture" or "recipe" field`,
    );
  }
  const weightsFile = manifest[0].paths[0];
  if (
    typeof weightsFile !== "string" ||
    !/^[A-Za-z0-9._-]+$/.test(weightsFile) ||
    weightsFile.startsWith(".")
  ) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath}: weights file "${String(weightsFile)}" must be a plain file name inside the model folder`,
    );
  }
  const dataset = model.dataset as Partial<ModelFile["dataset"]> | undefined;
  if (
    typeof dataset !== "object" ||
    dataset === null ||
    typeof dataset.name !== "string"
  ) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath} lacks "dataset.name", the dataset the model was trained on; train the model again`,
    );
  }
  if (typeof model.metrics !== "object" || model.metrics === null) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath} lacks the "metrics" field; train the model again`,
    );
  }
  try {
    validateModelSettings(model.architecture, model.recipe);
  } catch (error) {
    throw new FFError(
      "MODEL_FORMAT",
      `${modelPath}: ${(error as Error).message}`,
    );
  }
  return model as ModelFile;
}

async function readModelText(modelPath: string): Promise<string> {
  try {
    await stat(modelPath);
  } catch {
    throw new FFError(
      "MODEL_NOT_FOUND",
      `no model at ${path.dirname(modelPath)}: ${MODEL_FILE} is missing; pass the folder that \`pnpm ff train --out\` wrote`,
    );
  }
  return readFile(modelPath, "utf8");
}

function float32LittleEndian(parts: Float32Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const bytes = new Uint8Array(total * 4);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++, offset += 4)
      view.setFloat32(offset, part[i]!, true);
  }
  return bytes;
}

function readFloat32LittleEndian(bytes: Uint8Array): Float32Array {
  const values = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < values.length; i++)
    values[i] = view.getFloat32(i * 4, true);
  return values;
}
