import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";

/** Figures a benchmark returns: numbers, and strings that name where they were measured. */
export type BenchFigures = Record<string, number | string>;

/** Sets the backend from BENCH_BACKEND (default wasm) and returns its name. */
export async function setupBackend(): Promise<string> {
  const name = process.env.BENCH_BACKEND ?? "wasm";
  await tf.setBackend(name);
  await tf.ready();
  return tf.getBackend();
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
