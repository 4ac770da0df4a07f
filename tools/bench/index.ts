// `pnpm bench`: runs every benchmark on this machine and prints the figures as JSON.
// BENCH_BACKEND picks the tfjs backend (default wasm); BENCH_ONLY=train or BENCH_ONLY=ads runs one.
import { benchTraining } from "./train.ts";

const only = process.env.BENCH_ONLY;
const results: Record<string, unknown> = { date: new Date().toISOString() };

if (only === undefined || only === "train") {
  process.stderr.write(
    "training epochs (paper recipe at full batch, default preset)\n",
  );
  results.training = await benchTraining();
}
if (only === undefined || only === "ads") {
  process.stderr.write(
    "ADS throughput (fast path against the reference path)\n",
  );
  const { benchAds } = await import("./ads.ts");
  results.ads = await benchAds();
}
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
