import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import * as tf from "@tensorflow/tfjs-core";
import createDebug from "debug";

import { UsageError } from "./errors.ts";

const log = createDebug("ffads:cli:backend");
const require = createRequire(import.meta.url);

export const BACKEND_CHOICES = ["auto", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The backend in use and how it was reached. */
export interface BackendInfo {
  name: string;
  /** The package that provides it, e.g. `@tensorflow/tfjs-node-gpu`. */
  source: string;
  /** Reasons the faster backends were passed over, for the debug log. */
  skipped: string[];
}

/** Native packages in order of preference; both register the `tensorflow` backend. */
const NATIVE_PACKAGES = [
  "@tensorflow/tfjs-node-gpu",
  "@tensorflow/tfjs-node",
] as const;

/**
 * Picks the tfjs backend once for the process: `tensorflow` through tfjs-node-gpu or tfjs-node when
 * one is installed and loads, else `wasm`, else `cpu`. A forced choice that cannot load is an error.
 */
export async function selectBackend(
  choice: BackendChoice,
): Promise<BackendInfo> {
  const skipped: string[] = [];
  if (choice === "auto" || choice === "tensorflow") {
    for (const name of NATIVE_PACKAGES) {
      const failure = await tryNative(name);
      if (failure === null)
        return { name: "tensorflow", source: name, skipped };
      skipped.push(`${name}: ${failure}`);
    }
    if (choice === "tensorflow") {
      throw new UsageError(
        `--backend tensorflow needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, and neither loads ` +
          `(${skipped.join("; ")}); install one with network access, or use --backend wasm`,
      );
    }
  }
  if (choice === "auto" || choice === "wasm") {
    const failure = await trySet(
      "wasm",
      () => import("@tensorflow/tfjs-backend-wasm"),
    );
    if (failure === null)
      return { name: "wasm", source: "@tensorflow/tfjs-backend-wasm", skipped };
    if (choice === "wasm")
      throw new Error(`the wasm backend failed to start: ${failure}`);
    skipped.push(`wasm: ${failure}`);
  }
  const failure = await trySet(
    "cpu",
    () => import("@tensorflow/tfjs-backend-cpu"),
  );
  if (failure !== null)
    throw new Error(`the cpu backend failed to start: ${failure}`);
  return { name: "cpu", source: "@tensorflow/tfjs-backend-cpu", skipped };
}

async function tryNative(packageName: string): Promise<string | null> {
  // Without network the package installs but its native binding is never downloaded. Importing it
  // would then register every kernel before failing, so look for the binding first.
  let packageRoot: string;
  try {
    packageRoot = path.dirname(require.resolve(`${packageName}/package.json`));
  } catch {
    return "not installed";
  }
  const bindings = ["napi-v8", "napi-v9", "napi-v7", "napi-v6", "napi-v5"].map(
    (napi) => path.join(packageRoot, "lib", napi, "tfjs_binding.node"),
  );
  if (!bindings.some((binding) => existsSync(binding))) {
    return "installed without its native binding (its install script needs network access)";
  }
  try {
    await import(packageName);
  } catch (error) {
    log("%s does not load: %s", packageName, (error as Error).message);
    return `does not load: ${(error as Error).message.split("\n")[0]}`;
  }
  return trySet("tensorflow", async () => undefined);
}

async function trySet(
  name: string,
  load: () => Promise<unknown>,
): Promise<string | null> {
  try {
    await load();
    const ok = await tf.setBackend(name);
    if (!ok) return "initialisation failed";
    await tf.ready();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
