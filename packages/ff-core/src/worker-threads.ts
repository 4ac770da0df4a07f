/**
 * Helpers for worker threads that compute with tfjs: the main thread's backend, which each worker
 * starts so that it runs the same kernels, and the source that loads a TypeScript module in a
 * worker.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import * as tf from "@tensorflow/tfjs-core";

/** Backends a worker thread can load, by the name tfjs registers them under. */
export const WORKER_BACKENDS: Readonly<Record<string, () => Promise<unknown>>> =
  {
    cpu: () => import("@tensorflow/tfjs-backend-cpu"),
    wasm: () => import("@tensorflow/tfjs-backend-wasm"),
  };

/** tfjs flags that pick the wasm binary; copied to the workers so they run the same kernels. */
const WASM_FLAGS = ["WASM_HAS_SIMD_SUPPORT", "WASM_HAS_MULTITHREAD_SUPPORT"];

/** The main thread's backend, as a worker needs it to compute with the same kernels. */
export interface WorkerBackend {
  /** The name tfjs registers the backend under, one of `WORKER_BACKENDS`. */
  name: string;
  /** tfjs flags of the main thread that choose between kernels, such as the wasm binary. */
  flags: Record<string, boolean>;
}

/** Returns the current backend and its kernel flags, for `startWorkerBackend` in a worker. */
export async function currentWorkerBackend(): Promise<WorkerBackend> {
  const name = tf.getBackend();
  const flags: Record<string, boolean> = {};
  if (name === "wasm") {
    for (const flag of WASM_FLAGS)
      flags[flag] = (await tf.env().getAsync(flag)) as boolean;
  }
  return { name, flags };
}

/**
 * Loads and selects in this worker the backend of the main thread, with its flags.
 *
 * @throws Error when the backend fails to start
 */
export async function startWorkerBackend(
  backend: WorkerBackend,
): Promise<void> {
  await WORKER_BACKENDS[backend.name]!();
  for (const [name, value] of Object.entries(backend.flags))
    tf.env().set(name, value);
  if (!(await tf.setBackend(backend.name)))
    throw new Error(`the ${backend.name} backend failed to start in a worker`);
}

/**
 * Returns the source of a worker, for `new Worker(source, { eval: true })`, that calls the
 * exported function `entry` of `module`. In Node 20.20 with tsx 4.23, a worker does not get tsx's
 * ESM hooks, even with `--import tsx` in its `execArgv`: importing a .ts module fails with
 * ERR_UNKNOWN_FILE_EXTENSION. So the worker registers tsx's CommonJS hook itself and loads a
 * TypeScript module through `require`.
 */
export function workerSource(module: URL, entry: string): string {
  const modulePath = fileURLToPath(module);
  const tsxHook = modulePath.endsWith(".ts")
    ? createRequire(import.meta.url).resolve("tsx/cjs/api")
    : null;
  return [
    tsxHook === null ? "" : `require(${JSON.stringify(tsxHook)}).register();`,
    `require(${JSON.stringify(modulePath)}).${entry}();`,
  ].join("\n");
}
