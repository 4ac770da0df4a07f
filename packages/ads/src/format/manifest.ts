import { FormatError } from "./errors.ts";
import { describeValue, FieldChecker, isPlainObject } from "./field-checker.ts";

export { FormatError, isMissingFile, type FormatErrorCode } from "./errors.ts";

/** The `format` value of a saliency folder's manifest.json. */
export const SALIENCY_FORMAT = "ffads-saliency";
/** The `format` value of a model folder's model.json. */
export const MODEL_FORMAT = "ffads-model";
/** The only format version this reader accepts, for both folders. */
export const FORMAT_VERSION = 1;

/** One entry of the manifest's `arrays`: an .npy file beside manifest.json. */
export interface ArrayEntry {
  /** Path of the .npy file, relative to the saliency folder. */
  file: string;
  shape: number[];
  dtype: "float32";
  unit: string;
  meaning: string;
}

/** One sample image: its index in the split, its true label and the model's prediction. */
export interface SampleEntry {
  index: number;
  label: number;
  prediction: number;
  correct: boolean;
}

/** A PNG figure beside manifest.json. */
export interface FigureEntry {
  file: string;
  kind: string;
  title: string;
}

/** The occlusion baseline, in raw pixel space [0, 1]; `value` is null for the dataset's mean image. */
export interface Baseline {
  kind: "zero" | "mean" | "constant";
  value: number | null;
}

/** The model that a saliency folder explains. */
export interface ModelReference {
  /** The model folder, relative to the saliency folder (`"../model"` in a run folder). */
  path: string;
  kind: string;
  layerSizes: number[];
  /** The recipe name, or the recipe settings as model.json stores them. */
  recipe: string | Record<string, unknown> | null;
  testAccuracy: number | null;
}

/** The manifest.json of a saliency folder, as docs/formats.md defines it. */
export interface SaliencyManifest {
  format: typeof SALIENCY_FORMAT;
  version: typeof FORMAT_VERSION;
  createdAt: string;
  model: ModelReference;
  dataset: string;
  split: "test" | "train";
  /** N, the number of images the maps were measured on. */
  imageCount: number;
  imageShape: [number, number];
  classNames: string[];
  classes: number[];
  /** Window size k in pixels; the window is k x k. */
  window: number;
  /** Stride in pixels. */
  stride: number;
  baseline: Baseline;
  /** Accuracy on the N unoccluded images, a fraction in [0, 1]. */
  cleanAccuracy: number;
  arrays: Record<string, ArrayEntry>;
  samples: SampleEntry[];
  figures: FigureEntry[];
}

/** The arrays every saliency folder contains. A manifest may list more. */
export const SALIENCY_ARRAY_NAMES = [
  "ads",
  "occludedAccuracy",
  "classAds",
  "classCleanAccuracy",
  "classImageCount",
  "sampleImages",
  "sampleMaps",
  "sampleCleanMargin",
] as const;

export type SaliencyArrayName = (typeof SALIENCY_ARRAY_NAMES)[number];

/** The per-layer loss curves of a model: one array of mean loss values per layer. */
export interface LossHistory {
  unit: string;
  /** `layers[i][e]` is the loss of layer i after its epoch e + 1; JSON `null` is read as NaN. */
  layers: number[][];
}

/** The fields of model.json that the viewer uses; the weights manifest is left out. */
export interface ModelSummary {
  format: typeof MODEL_FORMAT;
  version: typeof FORMAT_VERSION;
  kind: string;
  architecture: {
    layerSizes: number[];
    normalization: string | null;
    goodness: string | null;
    activation: string | null;
  };
  recipe: Record<string, unknown> | null;
  training: Record<string, unknown> | null;
  dataset: {
    name: string;
    imageShape: number[] | null;
    classNames: string[] | null;
  } | null;
  metrics: { trainAccuracy: number | null; testAccuracy: number | null } | null;
  lossHistory: LossHistory;
  createdAt: string | null;
}

/**
 * Returns the shape that array `name` must have in a folder described by `manifest`, or null for
 * an array that docs/formats.md does not define.
 */
export function expectedArrayShape(
  manifest: SaliencyManifest,
  name: string,
): number[] | null {
  const [height, width] = manifest.imageShape;
  const classCount = manifest.classNames.length;
  const sampleCount = manifest.samples.length;
  switch (name) {
    case "ads":
      return [height, width];
    case "occludedAccuracy":
      // Grid point (i, j) is pixel (i * stride, j * stride), so the grid covers every pixel row.
      return [
        Math.ceil(height / manifest.stride),
        Math.ceil(width / manifest.stride),
      ];
    case "classAds":
      return [classCount, height, width];
    case "classCleanAccuracy":
    case "classImageCount":
      return [classCount];
    case "sampleImages":
    case "sampleMaps":
      return [sampleCount, height, width];
    case "sampleCleanMargin":
      return [sampleCount];
    default:
      return null;
  }
}

/**
 * Validates a parsed manifest.json and returns it typed.
 *
 * Checks the format name and the version, and that every field of docs/formats.md is present with
 * the right type and range. Checks that every required array is listed, and that each array's
 * shape fits the image shape, the class count, the sample count and the stride. Throws a FormatError naming `file` and
 * each invalid field.
 */
export function validateSaliencyManifest(
  value: unknown,
  file = "manifest.json",
): SaliencyManifest {
  const root = checkFormatAndVersion(
    value,
    file,
    SALIENCY_FORMAT,
    "a saliency folder",
  );
  const check = new FieldChecker();

  check.string(root, "createdAt");
  const model = check.object(root, "model");
  if (model) {
    check.relativePath(model, "path", "model.path", { allowParent: true });
    check.string(model, "kind", "model.kind");
    check.integerArray(model, "layerSizes", "model.layerSizes", { min: 1 });
    const recipe = model.recipe;
    if (!(
      recipe === null ||
      typeof recipe === "string" ||
      isPlainObject(recipe)
    )) {
      check.fail("model.recipe", "a name, an object or null", recipe);
    }
    check.fraction(model, "testAccuracy", "model.testAccuracy", {
      nullable: true,
    });
  }
  check.string(root, "dataset");
  check.oneOf(root, "split", ["test", "train"]);
  check.integer(root, "imageCount", "imageCount", { min: 0 });
  const imageShape = check.integerArray(root, "imageShape", "imageShape", {
    min: 1,
    length: 2,
  });
  const classNames = check.stringArray(root, "classNames");
  if (classNames?.length === 0)
    check.fail("classNames", "a non-empty array", classNames);
  const classes = check.integerArray(root, "classes", "classes", { min: 0 });
  if (classes && classNames) {
    classes.forEach((label, i) => {
      if (label >= classNames.length) {
        check.fail(
          `classes[${i}]`,
          `a label below ${classNames.length}`,
          label,
        );
      }
    });
  }
  check.integer(root, "window", "window", { min: 1 });
  check.integer(root, "stride", "stride", { min: 1 });
  checkBaseline(check, root);
  check.fraction(root, "cleanAccuracy", "cleanAccuracy");
  checkSamples(check, root, classNames?.length ?? null);
  checkFigures(check, root);
  const arrays = checkArrayEntries(check, root);
  if (arrays) {
    for (const name of SALIENCY_ARRAY_NAMES) {
      if (!(name in arrays))
        check.fail(`arrays.${name}`, "an array entry", undefined);
    }
  }

  if (check.problems.length > 0)
    throw new FormatError("invalid-field", file, check.problems);

  // Shapes can only be checked once the fields they depend on are known to be valid.
  const manifest = root as unknown as SaliencyManifest;
  for (const [name, entry] of Object.entries(manifest.arrays)) {
    const expected = expectedArrayShape(manifest, name);
    if (expected && !sameShape(expected, entry.shape)) {
      check.problems.push(
        `arrays.${name}.shape is ${formatShape(entry.shape)}, but imageShape ${formatShape(imageShape ?? [])}, ` +
          `${manifest.classNames.length} classes, ${manifest.samples.length} samples and ` +
          `stride ${manifest.stride} require ${formatShape(expected)}`,
      );
    }
  }
  if (check.problems.length > 0)
    throw new FormatError("shape-mismatch", file, check.problems);
  return manifest;
}

/**
 * Throws a FormatError unless the shape read from an array's .npy file equals the shape that the
 * manifest lists for it.
 */
export function checkArrayShape(
  name: string,
  entry: ArrayEntry,
  npyShape: readonly number[],
): void {
  if (sameShape(entry.shape, npyShape)) return;
  throw new FormatError(
    "shape-mismatch",
    entry.file,
    `the array has shape ${formatShape(npyShape)}, but manifest.json lists ${formatShape(entry.shape)} for arrays.${name}`,
  );
}

/**
 * Validates a parsed model.json and returns the fields the viewer uses.
 *
 * Requires the format name, the version, `kind`, `architecture.layerSizes` and `lossHistory`;
 * the other fields of docs/formats.md are type-checked when present and null when absent. Throws a
 * FormatError naming `file` and each invalid field.
 */
export function validateModelSummary(
  value: unknown,
  file = "model.json",
): ModelSummary {
  const root = checkFormatAndVersion(
    value,
    file,
    MODEL_FORMAT,
    "a model folder",
  );
  const check = new FieldChecker();

  const kind = check.string(root, "kind");
  const architecture = check.object(root, "architecture");
  const layerSizes = architecture
    ? check.integerArray(
        architecture,
        "layerSizes",
        "architecture.layerSizes",
        { min: 1 },
      )
    : null;
  const recipe = check.optionalObject(root, "recipe");
  const training = check.optionalObject(root, "training");
  const dataset = check.optionalObject(root, "dataset");
  const metrics = check.optionalObject(root, "metrics");
  if (dataset) check.string(dataset, "name", "dataset.name");
  if (metrics) {
    check.fraction(metrics, "trainAccuracy", "metrics.trainAccuracy", {
      nullable: true,
    });
    check.fraction(metrics, "testAccuracy", "metrics.testAccuracy", {
      nullable: true,
    });
  }
  const lossHistory = checkLossHistory(check, root);
  const createdAt = root.createdAt;
  if (createdAt !== undefined && typeof createdAt !== "string") {
    check.fail("createdAt", "an ISO 8601 string", createdAt);
  }

  if (check.problems.length > 0)
    throw new FormatError("invalid-field", file, check.problems);

  return {
    format: MODEL_FORMAT,
    version: FORMAT_VERSION,
    kind: kind!,
    architecture: {
      layerSizes: layerSizes!,
      normalization: optionalString(architecture!.normalization),
      goodness: optionalString(architecture!.goodness),
      activation: optionalString(architecture!.activation),
    },
    recipe,
    training,
    dataset: dataset
      ? {
          name: dataset.name as string,
          imageShape: Array.isArray(dataset.imageShape)
            ? (dataset.imageShape as number[])
            : null,
          classNames: Array.isArray(dataset.classNames)
            ? dataset.classNames.map(String)
            : null,
        }
      : null,
    metrics: metrics
      ? {
          trainAccuracy: (metrics.trainAccuracy as number | undefined) ?? null,
          testAccuracy: (metrics.testAccuracy as number | undefined) ?? null,
        }
      : null,
    lossHistory: lossHistory!,
    createdAt: typeof createdAt === "string" ? createdAt : null,
  };
}

/** Formats a shape the way the error messages print it, e.g. `[10, 28, 28]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function checkFormatAndVersion(
  value: unknown,
  file: string,
  format: string,
  folderKind: string,
): Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new FormatError(
      "invalid-field",
      file,
      `expected a JSON object, found ${describeValue(value)}`,
    );
  }
  if (value.format !== format) {
    throw new FormatError(
      "wrong-format",
      file,
      `field "format" is ${describeValue(value.format)}, expected "${format}"; this file does not describe ${folderKind}`,
    );
  }
  if (value.version !== FORMAT_VERSION) {
    throw new FormatError(
      "unsupported-version",
      file,
      `format version ${describeValue(value.version)} is not supported; this reader reads version ${FORMAT_VERSION}`,
    );
  }
  return value;
}

function checkBaseline(
  check: FieldChecker,
  root: Record<string, unknown>,
): void {
  const baseline = check.object(root, "baseline");
  if (!baseline) return;
  const kind = check.oneOf(
    baseline,
    "kind",
    ["zero", "mean", "constant"],
    "baseline.kind",
  );
  const value = baseline.value;
  if (kind === "mean") {
    if (value !== null)
      check.fail("baseline.value", 'null for kind "mean"', value);
  } else if (!(typeof value === "number" && value >= 0 && value <= 1)) {
    check.fail("baseline.value", "a number in [0, 1]", value);
  }
}

function checkSamples(
  check: FieldChecker,
  root: Record<string, unknown>,
  classCount: number | null,
): void {
  const samples = check.array(root, "samples");
  samples?.forEach((sample, i) => {
    const field = `samples[${i}]`;
    if (!isPlainObject(sample)) {
      check.fail(field, "an object", sample);
      return;
    }
    const labelLimit = classCount === null ? {} : { max: classCount - 1 };
    check.integer(sample, "index", `${field}.index`, { min: 0 });
    const label = check.integer(sample, "label", `${field}.label`, {
      min: 0,
      ...labelLimit,
    });
    const prediction = check.integer(
      sample,
      "prediction",
      `${field}.prediction`,
      { min: 0, ...labelLimit },
    );
    const correct = check.boolean(sample, "correct", `${field}.correct`);
    if (
      label !== null &&
      prediction !== null &&
      correct !== null &&
      correct !== (label === prediction)
    ) {
      check.problems.push(
        `${field}.correct is ${correct}, but label ${label} and prediction ${prediction} ${correct ? "differ" : "are equal"}`,
      );
    }
  });
}

function checkFigures(
  check: FieldChecker,
  root: Record<string, unknown>,
): void {
  const figures = check.array(root, "figures");
  figures?.forEach((figure, i) => {
    const field = `figures[${i}]`;
    if (!isPlainObject(figure)) {
      check.fail(field, "an object", figure);
      return;
    }
    check.relativePath(figure, "file", `${field}.file`);
    check.string(figure, "kind", `${field}.kind`);
    check.string(figure, "title", `${field}.title`);
  });
}

function checkArrayEntries(
  check: FieldChecker,
  root: Record<string, unknown>,
): Record<string, unknown> | null {
  const arrays = check.object(root, "arrays");
  if (!arrays) return null;
  for (const [name, entry] of Object.entries(arrays)) {
    const field = `arrays.${name}`;
    if (!isPlainObject(entry)) {
      check.fail(field, "an object", entry);
      continue;
    }
    check.relativePath(entry, "file", `${field}.file`);
    check.integerArray(entry, "shape", `${field}.shape`, { min: 0 });
    if (entry.dtype !== "float32")
      check.fail(`${field}.dtype`, '"float32"', entry.dtype);
    check.string(entry, "unit", `${field}.unit`);
    check.string(entry, "meaning", `${field}.meaning`);
  }
  return arrays;
}

function checkLossHistory(
  check: FieldChecker,
  root: Record<string, unknown>,
): LossHistory | null {
  const history = check.object(root, "lossHistory");
  if (!history) return null;
  const unit = check.string(history, "unit", "lossHistory.unit");
  const layers = check.array(history, "layers", "lossHistory.layers");
  if (unit === null || layers === null) return null;

  const curves: number[][] = [];
  layers.forEach((curve, i) => {
    const field = `lossHistory.layers[${i}]`;
    if (!Array.isArray(curve)) {
      check.fail(field, "an array of numbers", curve);
      return;
    }
    const badIndex = curve.findIndex(
      (loss) => !(loss === null || typeof loss === "number"),
    );
    if (badIndex >= 0) {
      check.fail(`${field}[${badIndex}]`, "a number or null", curve[badIndex]);
      return;
    }
    curves.push(
      curve.map((loss: number | null) => (loss === null ? Number.NaN : loss)),
    );
  });
  return { unit, layers: curves };
}

function optionalString(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}
