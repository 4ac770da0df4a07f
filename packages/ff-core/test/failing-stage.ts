// A pipeline stage module that fails on purpose, for the tests of how the pipeline handles errors.
// FAILING_STAGE_WHEN=start fails before the stage is ready; FAILING_STAGE_WHEN=step fails the first
// stage right after it runs its first step.
import { parentPort } from "node:worker_threads";

import { runStage as runRealStage } from "../src/pipeline-stage.ts";

export async function runStage(): Promise<void> {
  if (process.env.FAILING_STAGE_WHEN === "start")
    throw new Error("the stage failed to start on purpose");
  await runRealStage();
  parentPort!.once("message", () => {
    throw new Error("the stage failed on purpose");
  });
}
