/** The rows of a run's metadata table, as plain text. */
import type { ModelSummary, SaliencyManifest } from "@ffads/ads/format";
import { formatPercent } from "./display.ts";

export interface MetadataRow {
  label: string;
  value: string;
}

/** Lists what a run was measured with: model, dataset, N, window, stride, baseline and accuracies. */
export function runMetadata(
  manifest: SaliencyManifest | null,
  model: ModelSummary | null,
): MetadataRow[] {
  const rows: MetadataRow[] = [];
  const add = (label: string, value: string | null | undefined) => {
    if (value !== null && value !== undefined && value !== "")
      rows.push({ label, value });
  };

  const layerSizes =
    model?.architecture.layerSizes ?? manifest?.model.layerSizes;
  const kind = model?.kind ?? manifest?.model.kind;
  add(
    "Model",
    [kindName(kind), layerSizes ? `[${layerSizes.join(", ")}]` : null]
      .filter(Boolean)
      .join(" "),
  );
  add("Recipe", recipeName(model?.recipe ?? manifest?.model.recipe ?? null));
  if (model) {
    const { normalization, goodness } = model.architecture;
    add("Normalization", normalization);
    add("Goodness", goodness);
  }
  add(
    "Test accuracy",
    formatPercent(
      model?.metrics?.testAccuracy ?? manifest?.model.testAccuracy ?? null,
    ),
  );
  if (model?.metrics)
    add("Train accuracy", formatPercent(model.metrics.trainAccuracy));
  if (model?.training) {
    const training = model.training;
    add("Epochs", textOf(training.epochs));
    add("Batch size", textOf(training.batchSize));
    add("Learning rate", textOf(training.learningRate));
    add("Backend", textOf(training.backend));
    if (typeof training.wallTimeMs === "number")
      add("Training time", `${(training.wallTimeMs / 1000).toFixed(1)} s`);
  }

  if (manifest) {
    add("Dataset", `${manifest.dataset} (${manifest.split} split)`);
    add("Images (N)", String(manifest.imageCount));
    add("Window", `${manifest.window} x ${manifest.window} pixels`);
    add("Stride", `${manifest.stride} pixels`);
    add("Baseline", baselineText(manifest));
    add("Clean accuracy", formatPercent(manifest.cleanAccuracy));
    if (manifest.classes.length !== manifest.classNames.length) {
      add(
        "Classes",
        manifest.classes
          .map((label) => manifest.classNames[label] ?? String(label))
          .join(", "),
      );
    }
    add("Maps written", manifest.createdAt);
  } else if (model?.dataset) {
    add("Dataset", model.dataset.name);
  }
  if (model?.createdAt) add("Model written", model.createdAt);
  return rows;
}

function kindName(kind: string | undefined): string | null {
  if (kind === "ff") return "Forward-Forward MLP";
  if (kind === "bp") return "backpropagation MLP";
  return kind ?? null;
}

function recipeName(
  recipe: string | Record<string, unknown> | null,
): string | null {
  if (recipe === null) return null;
  if (typeof recipe === "string") return recipe;
  return typeof recipe.name === "string" ? recipe.name : null;
}

function baselineText(manifest: SaliencyManifest): string {
  const { kind, value } = manifest.baseline;
  if (kind === "mean") return "the dataset's mean image";
  return `${kind} (pixel value ${value})`;
}

function textOf(value: unknown): string | null {
  if (
    typeof value === "number" ||
    typeof value === "string" ||
    typeof value === "boolean"
  )
    return String(value);
  return null;
}
