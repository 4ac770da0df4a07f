import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi,
} from "vitest";
import type { FFNetwork, LabelledImages } from "@ffads/ff-core";

import { ffClassifier } from "./classifier.ts";
import { AdsError } from "./errors.ts";
import type { AdsEvent } from "./events.ts";
import type { AdsOptions } from "./options.ts";
import { runAds, type AdsResult } from "./run.ts";
import { mnistImages, trainSmallNetwork } from "./testing.ts";

/** Worker threads started by the code under test that have not exited yet. */
const liveWorkers = vi.hoisted(() => new Set<object>());

vi.mock("node:worker_threads", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:worker_threads")>();
  class TrackedWorker extends actual.Worker {
    constructor(...args: ConstructorParameters<typeof actual.Worker>) {
      super(...args);
      liveWorkers.add(this);
      this.once("exit", () => liveWorkers.delete(this));
    }
  }
  return { ...actual, Worker: TrackedWorker };
});

const ARRAYS = [
  "cleanPredictions",
  "ads",
  "occludedAccuracy",
  "classAds",
  "classCleanAccuracy",
  "classImageCount",
  "sampleImages",
  "sampleMaps",
  "sampleCleanMargin",
] as const;

/** Indices where two arrays differ, NaN equal to NaN, at most 5 of them. */
function differences(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const found: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && found.length < 5; i++) {
    if (!Object.is(a[i], b[i])) found.push(i);
  }
  return found;
}

function expectSameResult(threaded: AdsResult, single: AdsResult): void {
  expect(threaded.cleanAccuracy).toBe(single.cleanAccuracy);
  expect(threaded.samples).toEqual(single.samples);
  expect(threaded.pairs).toEqual(single.pairs);
  for (const name of ARRAYS) {
    expect(threaded[name].length, name).toBe(single[name].length);
    expect(differences(threaded[name], single[name]), name).toEqual([]);
  }
}

async function runRecording(
  network: FFNetwork,
  images: LabelledImages,
  options: AdsOptions,
): Promise<{ result: AdsResult; events: AdsEvent[] }> {
  const events: AdsEvent[] = [];
  const result = await runAds({
    network,
    images,
    options,
    onEvent: (event) => events.push(event),
  });
  return { result, events };
}

let network: FFNetwork;
let images: LabelledImages;

beforeAll(async () => {
  await tf.setBackend("wasm");
  // An odd count, so that the shards differ in size.
  images = await mnistImages("test", 41);
  network = await trainSmallNetwork({ layerSizes: [784, 64, 32] }, {}, 2000);
}, 60_000);

afterAll(() => network?.dispose());

afterEach(() => {
  delete process.env.FAILING_ADS_WORKER_WHEN;
});

describe("runAds on worker threads equals one thread", () => {
  const cases: [string, number, AdsOptions][] = [
    ["fast, 3x3, stride 1, zero, 2 threads", 41, { windowSize: 3 }],
    [
      "fast, 4x4, stride 3, mean, 3 threads",
      41,
      { windowSize: 4, stride: 3, baseline: { kind: "mean" }, threads: 3 },
    ],
    [
      "reference, 6x6, stride 5, constant",
      10,
      {
        windowSize: 6,
        stride: 5,
        baseline: { kind: "constant", value: 0.5 },
        method: "reference",
      },
    ],
  ];
  for (const [name, count, options] of cases) {
    it(
      name,
      async () => {
        const subset: LabelledImages = {
          ...images,
          images: images.images.subarray(0, count * images.pixels),
          labels: images.labels.subarray(0, count),
          count,
        };
        const threads = options.threads ?? 2;
        const single = await runRecording(network, subset, options);
        const threaded = await runRecording(network, subset, {
          ...options,
          threads,
        });
        expectSameResult(threaded.result, single.result);
        expect(threaded.result.samples.length).toBeGreaterThan(0);
        expect(liveWorkers.size).toBe(0);

        expect(threaded.events[0]).toMatchObject({ type: "start", threads });
        const stages = threaded.events.flatMap((event) =>
          event.type === "progress" ? [event.stage] : [],
        );
        expect(stages).toEqual(
          [...stages].sort(
            (a, b) =>
              ["clean", "windows", "samples"].indexOf(a) -
              ["clean", "windows", "samples"].indexOf(b),
          ),
        );
        for (const stage of ["clean", "windows"] as const) {
          const progress = threaded.events.filter(
            (event) => event.type === "progress" && event.stage === stage,
          ) as Extract<AdsEvent, { type: "progress" }>[];
          const completed = progress.map((event) => event.completed);
          expect(completed, stage).toEqual(
            [...completed].sort((a, b) => a - b),
          );
          expect(progress.at(-1)!.completed, stage).toBe(
            progress.at(-1)!.total,
          );
        }
        expect(threaded.events.at(-1)).toMatchObject({
          type: "end",
          stopped: false,
        });
      },
      30_000,
    );
  }
});

describe("runAds threads", () => {
  it("rejects and stops the workers on abort", async () => {
    const controller = new AbortController();
    const events: AdsEvent[] = [];
    const run = runAds({
      network,
      images,
      options: { threads: 2 },
      onEvent: (event) => {
        events.push(event);
        if (event.type === "progress" && event.stage === "windows")
          controller.abort(new Error("stopped by the test"));
      },
      signal: controller.signal,
    });
    await expect(run).rejects.toThrow("stopped by the test");
    expect(liveWorkers.size).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: "end", stopped: true });
  }, 30_000);

  it("rejects and stops the workers when a listener throws", async () => {
    const run = runAds({
      network,
      images,
      options: { threads: 2 },
      onEvent: (event) => {
        if (event.type === "progress") throw new Error("listener failed");
      },
    });
    await expect(run).rejects.toThrow("listener failed");
    expect(liveWorkers.size).toBe(0);
  }, 30_000);

  for (const [when, message] of [
    ["start", "the worker failed to start on purpose"],
    ["tally", "the worker failed on purpose before sending its counts"],
  ] as const) {
    it(`names the worker that failed at ${when}`, async () => {
      process.env.FAILING_ADS_WORKER_WHEN = when;
      const run = runAds(
        { network, images, options: { threads: 2 } },
        new URL("../test/failing-worker.ts", import.meta.url),
      );
      // Both workers fail, and whichever reports first is named.
      await expect(run).rejects.toThrow(
        new RegExp(
          `^ADS worker [01] \\(images (0 to 19|20 to 40)\\) failed: ${message}$`,
        ),
      );
      expect(liveWorkers.size).toBe(0);
    }, 30_000);
  }

  it("runs another classifier on the calling thread", async () => {
    const events: AdsEvent[] = [];
    const subset: LabelledImages = {
      ...images,
      images: images.images.subarray(0, 4 * images.pixels),
      labels: images.labels.subarray(0, 4),
      count: 4,
    };
    await runAds({
      network: ffClassifier(network),
      images: subset,
      options: { windowSize: 7, stride: 7, threads: 2 },
      onEvent: (event) => events.push(event),
    });
    expect(events[0]).toMatchObject({ type: "start", threads: 1 });
    expect(liveWorkers.size).toBe(0);
  });

  it("rejects threads that are not a positive integer", async () => {
    for (const threads of [0, 1.5]) {
      const run = runAds({ network, images, options: { threads } });
      await expect(run).rejects.toThrow(AdsError);
      await expect(run).rejects.toThrow(`threads ${threads} must be`);
    }
  });
});
