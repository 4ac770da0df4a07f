// An ADS worker module that fails on purpose, for the tests of how runAds handles worker errors.
// FAILING_ADS_WORKER_WHEN=start fails before the worker loads the network; FAILING_ADS_WORKER_WHEN=tally
// fails when the worker is about to send its counts, after the clean and windows stages.
import { parentPort } from "node:worker_threads";

import { runAdsWorker as runRealWorker } from "../src/engine/thread-worker.ts";

export async function runAdsWorker(): Promise<void> {
  if (process.env.FAILING_ADS_WORKER_WHEN === "start")
    throw new Error("the worker failed to start on purpose");
  const port = parentPort!;
  const postMessage = port.postMessage.bind(port);
  port.postMessage = (message: { type: string }) => {
    if (message.type === "tally")
      throw new Error("the worker failed on purpose before sending its counts");
    postMessage(message);
  };
  await runRealWorker();
}
