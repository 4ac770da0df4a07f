import yargs, { type Argv } from "yargs";

import { DATASET_NAMES } from "@ffads/datasets";
import { PRESETS } from "@ffads/ff-core";

import { BACKEND_CHOICES } from "./backend.ts";
import {
  formatAdsSummary,
  runAdsCommand,
  type AdsFlags,
} from "./commands/ads.ts";
import { formatEvalSummary, runEval, type EvalFlags } from "./commands/eval.ts";
import { formatViewSummary, runView, type ViewFlags } from "./commands/view.ts";
import {
  formatTrainSummary,
  runTrain,
  type TrainFlags,
} from "./commands/train.ts";
import {
  EXIT_INTERRUPTED,
  EXIT_RUNTIME_ERROR,
  EXIT_USAGE,
  InterruptedError,
  UsageError,
} from "./errors.ts";

/** Output streams, replaceable in tests. */
export interface Streams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal, where progress bars redraw in place. */
  interactive?: boolean;
}

const defaultStreams: Streams = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
};

/** Where `train`, `eval` and `ads` look for the dataset files. */
const DATA_SOURCE_OPTIONS = {
  "data-dir": {
    requiresArg: true,
    type: "string",
    describe: "folder with the dataset IDX files (raw or .gz), searched first",
  },
  download: {
    type: "boolean",
    default: false,
    describe: "download the dataset into the cache if it is found nowhere",
  },
  "verify-checksums": {
    type: "boolean",
    default: true,
    describe:
      "check the files against the official SHA-256; --no-verify-checksums accepts a modified copy",
  },
} as const;

/** The model to read and its dataset, shared by eval and ads. */
const SAVED_MODEL_OPTIONS = {
  model: {
    requiresArg: true,
    type: "string",
    demandOption: true,
    describe: "model folder written by ff train",
  },
  dataset: {
    requiresArg: true,
    choices: DATASET_NAMES,
    describe: "dataset [the one the model was trained on]",
  },
} as const;

/** Error codes of the packages that mean the user passed an impossible setting. */
const USAGE_ERROR_CODES = new Set([
  "INVALID_CONFIG",
  "INVALID_OPTION",
  "USAGE",
]);

/**
 * Runs the `ff` command line and returns the exit code: 0 on success, 2 for invalid flags,
 * 1 for runtime errors and 130 when interrupted.
 */
export async function main(
  argv: string[],
  streams: Streams = defaultStreams,
): Promise<number> {
  const controller = new AbortController();
  let firstSignalMs = 0;
  const onSignal = (): void => {
    // tsx passes a terminal's Ctrl-C on to this process a second time about 30 ms later, so only
    // a repeat after a second counts as a request to quit at once.
    if (controller.signal.aborted) {
      if (performance.now() - firstSignalMs > 1000)
        process.exit(EXIT_INTERRUPTED);
      return;
    }
    firstSignalMs = performance.now();
    streams.stderr("\nstopping; press Ctrl-C again to quit at once\n");
    controller.abort();
  };
  // SIGTERM (from kill or timeout) stops the same way, so that nothing is left half-written.
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let exitCode = 0;
  let verbose = argv.includes("--verbose");
  let usageFailure: string | null = null;
  try {
    const parser = buildParser(argv, streams, controller.signal, (message) => {
      usageFailure = message;
    });
    let helpText = "";
    await parser.parseAsync(argv, {}, (_error, _args, output) => {
      helpText = output;
    });
    if (helpText !== "" && usageFailure === null)
      streams.stdout(`${helpText}\n`);
    if (usageFailure !== null) {
      streams.stderr(usageLine(usageFailure));
      exitCode = EXIT_USAGE;
    }
  } catch (error) {
    if (usageFailure !== null) {
      streams.stderr(usageLine(usageFailure));
      exitCode = EXIT_USAGE;
    } else {
      exitCode = reportError(error, verbose, streams);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return exitCode;
}

function reportError(
  error: unknown,
  verbose: boolean,
  streams: Streams,
): number {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  const message = err.message.replace(/\s*\n\s*/g, " ");
  if (err instanceof InterruptedError) {
    streams.stderr(`ff: ${message}\n`);
    return EXIT_INTERRUPTED;
  }
  streams.stderr(`ff: error: ${verbose ? (err.stack ?? message) : message}\n`);
  if (
    err instanceof UsageError ||
    (typeof code === "string" && USAGE_ERROR_CODES.has(code))
  )
    return EXIT_USAGE;
  if (!verbose)
    streams.stderr("Run again with --verbose for the stack trace.\n");
  return EXIT_RUNTIME_ERROR;
}

function buildParser(
  argv: string[],
  streams: Streams,
  signal: AbortSignal,
  onUsageFailure: (message: string) => void,
): Argv {
  const print = (value: string): void => streams.stdout(`${value}\n`);
  return yargs()
    .scriptName("ff")
    .middleware(rejectRepeatedFlags, true)
    .usage(
      "Usage: pnpm ff <command> [options]\n\nForward-Forward training and Accuracy Differential Saliency.",
    )
    .option("backend", {
      requiresArg: true,
      choices: BACKEND_CHOICES,
      default: "auto" as const,
      describe:
        "tfjs backend: auto tries tensorflow (tfjs-node-gpu, then tfjs-node), then wasm, then cpu",
    })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "print the summary as JSON on stdout",
    })
    .option("verbose", {
      type: "boolean",
      default: false,
      describe: "print stack traces of errors",
    })
    .command(
      "train",
      "train a Forward-Forward network and write a model folder",
      (command) =>
        command
          .option("dataset", {
            requiresArg: true,
            choices: DATASET_NAMES,
            default: "mnist" as const,
            describe: "dataset to train on",
          })
          .option("preset", {
            requiresArg: true,
            choices: Object.keys(PRESETS),
            default: "default",
            describe: `recipe to start from: ${Object.values(PRESETS)
              .map((recipe) => `${recipe.name}: ${recipe.description}`)
              .join("; ")}`,
          })
          .option("epochs", {
            requiresArg: true,
            type: "number",
            describe:
              "epochs per layer (sequential) or in all (joint) [preset]",
          })
          .option("batch-size", {
            requiresArg: true,
            type: "number",
            describe: "images per mini-batch, 0 for full batch [preset]",
          })
          .option("layers", {
            requiresArg: true,
            type: "string",
            describe:
              "hidden layer sizes, comma-separated, e.g. 500,500 [preset]",
          })
          .option("learning-rate", {
            requiresArg: true,
            type: "number",
            describe: "Adam learning rate [preset]",
          })
          .option("learning-rate-decay", {
            requiresArg: true,
            type: "number",
            describe:
              "factor applied to the learning rate after each epoch, in (0, 1] [preset]",
          })
          .option("threshold", {
            requiresArg: true,
            type: "number",
            describe: "goodness threshold of the FF loss [preset]",
          })
          .option("seed", {
            requiresArg: true,
            type: "number",
            describe:
              "random seed for weights, shuffling and negatives [preset]",
          })
          .option("schedule", {
            requiresArg: true,
            choices: ["sequential", "joint"] as const,
            describe:
              "sequential: each layer trained to the end before the next; joint: all layers every step [preset]",
          })
          .option("negatives", {
            requiresArg: true,
            choices: ["fixed", "resample", "hard"] as const,
            describe:
              "negative labels: fixed random, resampled each epoch, or hard (most confusable) [preset]",
          })
          .option("normalization", {
            requiresArg: true,
            choices: ["l2", "rms"] as const,
            describe: "layer input normalisation [preset]",
          })
          .option("goodness", {
            requiresArg: true,
            choices: ["mean", "sum"] as const,
            describe: "goodness: mean or sum of squared activities [preset]",
          })
          .option("train-count", {
            requiresArg: true,
            type: "number",
            describe:
              "training images taken from the start of the train split [preset]",
          })
          .option("threads", {
            requiresArg: true,
            type: "number",
            describe:
              "threads to train on; the joint schedule runs as a pipeline of layers with the same result as 1 thread [2 with at least 2 cores, else 1]",
          })
          .option("out", {
            requiresArg: true,
            type: "string",
            describe: "model folder to write [runs/<dataset>-<preset>/model]",
          })
          .option("overwrite", {
            type: "boolean",
            default: false,
            describe: "replace a model already in --out",
          })
          .options(DATA_SOURCE_OPTIONS)
          .epilog("[preset]: the default comes from the chosen --preset.")
          .check(
            checkNumbers({
              epochs: "count",
              "batch-size": "natural",
              "learning-rate": "positive",
              "learning-rate-decay": "fraction",
              threshold: "finite",
              seed: "seed",
              "train-count": "count",
              threads: "threads",
            }),
          ),
      async (args) => {
        const summary = await runTrain(
          args as unknown as TrainFlags,
          signal,
          streams,
        );
        print(
          args.json
            ? JSON.stringify(summary, null, 2)
            : formatTrainSummary(summary),
        );
      },
    )
    .command(
      "eval",
      "measure the accuracy of a saved model",
      (command) =>
        command
          .options(SAVED_MODEL_OPTIONS)
          .option("split", {
            requiresArg: true,
            choices: ["test", "train"] as const,
            default: "test" as const,
            describe: "split to evaluate on",
          })
          .option("limit", {
            requiresArg: true,
            type: "number",
            describe: "evaluate only the first N images [all]",
          })
          .options(DATA_SOURCE_OPTIONS)
          .check(checkNumbers({ limit: "count" })),
      async (args) => {
        const summary = await runEval(args as unknown as EvalFlags, streams);
        print(
          args.json
            ? JSON.stringify(summary, null, 2)
            : formatEvalSummary(summary),
        );
      },
    )
    .command(
      "ads",
      "measure Accuracy Differential Saliency maps of a saved model",
      (command) =>
        command
          .options(SAVED_MODEL_OPTIONS)
          .option("split", {
            requiresArg: true,
            choices: ["test", "train"] as const,
            default: "test" as const,
            describe: "split whose images are occluded",
          })
          .option("window", {
            requiresArg: true,
            type: "number",
            default: 3,
            describe: "window size k in pixels; the window is k x k",
          })
          .option("stride", {
            requiresArg: true,
            type: "number",
            default: 1,
            describe: "distance between window centres in pixels",
          })
          .option("baseline", {
            requiresArg: true,
            type: "string",
            default: "zero",
            describe:
              "value of occluded pixels in raw pixel space: zero (black), mean (the mean of the images explained), or a number in [0, 1]",
          })
          .option("limit", {
            requiresArg: true,
            type: "number",
            describe: "use only the first N images (after --classes) [all]",
          })
          .option("classes", {
            requiresArg: true,
            type: "string",
            describe: "use only images of these labels, e.g. 3,5,8 [all]",
          })
          .option("method", {
            requiresArg: true,
            choices: ["fast", "reference"] as const,
            default: "fast" as const,
            describe:
              "fast: exact shortcuts; reference: the plain definition, for checking (slow)",
          })
          .option("batch-size", {
            requiresArg: true,
            type: "number",
            describe: "rows per network batch; bounds memory [4096]",
          })
          .option("threads", {
            requiresArg: true,
            type: "number",
            describe:
              "threads to occlude on; the images are split between worker threads with the same result as 1 thread [2 with at least 2 cores, else 1]",
          })
          .option("top", {
            requiresArg: true,
            type: "number",
            default: 10,
            describe: "windows with the largest drops to list",
          })
          .option("out", {
            requiresArg: true,
            type: "string",
            describe:
              "saliency folder to write [saliency/ beside the model folder]",
          })
          .option("overwrite", {
            type: "boolean",
            default: false,
            describe: "replace a saliency folder already in --out",
          })
          .options(DATA_SOURCE_OPTIONS)
          .check(
            checkNumbers({
              window: "count",
              stride: "count",
              limit: "count",
              "batch-size": "rows",
              threads: "threads",
              top: "natural",
            }),
          ),
      async (args) => {
        const summary = await runAdsCommand(
          args as unknown as AdsFlags,
          signal,
          streams,
        );
        print(
          args.json
            ? JSON.stringify(summary, null, 2)
            : formatAdsSummary(summary),
        );
      },
    )
    .command(
      "view <runs..>",
      "build the static viewer with run folders copied in, or serve it",
      (command) =>
        command
          .positional("runs", {
            type: "string",
            array: true,
            describe:
              "run folders (model/ and saliency/ side by side), saliency folders or model folders",
          })
          .option("out", {
            requiresArg: true,
            type: "string",
            default: "runs/viewer",
            describe: "folder to write the site to",
          })
          .option("serve", {
            type: "boolean",
            default: false,
            describe:
              "serve the site on 127.0.0.1 instead of writing it, until Ctrl-C",
          })
          .option("port", {
            requiresArg: true,
            type: "number",
            default: 0,
            describe: "port for --serve; 0 picks a free one",
          })
          .check(checkNumbers({ port: "port" })),
      async (args) => {
        const summary = await runView(
          args as unknown as ViewFlags,
          signal,
          streams,
        );
        print(
          args.json
            ? JSON.stringify(summary, null, 2)
            : formatViewSummary(summary),
        );
      },
    )
    .demandCommand(1, "name a command: train, eval, ads or view")
    .strict()
    .recommendCommands()
    .help()
    .alias("help", "h")
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, error) => {
      // yargs reports its own validation failures, such as a flag without its value, as YError.
      if (error && error.name !== "YError") throw error;
      onUsageFailure(message);
      throw new UsageError(message);
    });
}

/**
 * Rejects a flag given more than once, which yargs would turn into an array of its values. The
 * variadic `runs` of `ff view` is the only option that takes several values.
 */
function rejectRepeatedFlags(args: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(args)) {
    if (key === "_" || key === "runs" || !Array.isArray(value)) continue;
    throw new UsageError(
      `--${key} was given more than once (${value.join(", ")}); give it once`,
    );
  }
}

/**
 * Formats a usage failure as one line. yargs reports a value outside the choices over several
 * lines ("Invalid values:" and then one "Argument: ..., Given: ..., Choices: ..." line per flag),
 * so each flag's line becomes `--flag "value" is not one of: a, b`.
 */
export function usageLine(message: string): string {
  const choices = [
    ...message.matchAll(/Argument: (\S+), Given: (.*?), Choices: (.*)$/gm),
  ].map(
    ([, flag, given, allowed]) =>
      `--${flag} ${given} is not one of: ${allowed!.replaceAll('"', "")}`,
  );
  const missingValue = /^Not enough arguments following: (\S+)$/.exec(message);
  const missingFlags = /^Missing required arguments?: (.+)$/.exec(message);
  const text =
    choices.length > 0
      ? choices.join("; ")
      : missingValue !== null
        ? `--${missingValue[1]} needs a value`
        : missingFlags !== null
          ? `${missingFlags[1]!
              .split(", ")
              .map((flag) => `--${flag}`)
              .join(", ")} is required`
          : message.replace(/\s*\n\s*/g, " ");
  return `ff: error: ${text} (see pnpm ff --help)\n`;
}

/** The range of values a numeric flag accepts. */
type NumberKind =
  | "count"
  | "natural"
  | "seed"
  | "rows"
  | "threads"
  | "positive"
  | "fraction"
  | "finite"
  | "port";

const NUMBER_RULES: Record<
  NumberKind,
  { test: (value: number) => boolean; expected: string }
> = {
  count: {
    test: (v) => Number.isInteger(v) && v >= 1,
    expected: "a whole number of at least 1",
  },
  natural: {
    test: (v) => Number.isInteger(v) && v >= 0,
    expected: "a whole number of at least 0",
  },
  // ADS batches below 16 rows are rejected by the engine, and 65,536 rows of 784 pixels already
  // take 205 MB per batch.
  rows: {
    test: (v) => Number.isInteger(v) && v >= 16 && v <= 65536,
    expected: "a whole number from 16 to 65536",
  },
  // Each thread is a worker with its own tfjs (16 of them took 850 MB in one test), so a typo
  // like 1000 is rejected.
  threads: {
    test: (v) => Number.isInteger(v) && v >= 1 && v <= 64,
    expected: "a whole number from 1 to 64",
  },
  // The seeded generator keeps 32 bits, so larger seeds would repeat smaller ones.
  seed: {
    test: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff,
    expected: "a whole number from 0 to 4294967295",
  },
  positive: { test: (v) => v > 0, expected: "a number above 0" },
  fraction: {
    test: (v) => v > 0 && v <= 1,
    expected: "a number above 0 and at most 1",
  },
  finite: { test: () => true, expected: "a number" },
  port: {
    test: (v) => Number.isInteger(v) && v >= 0 && v <= 65535,
    expected: "a port from 0 to 65535",
  },
};

/** Returns a yargs check that each named numeric flag, when given, is a finite number of its kind. */
function checkNumbers(
  kinds: Record<string, NumberKind>,
): (args: Record<string, unknown>) => true {
  return (args) => {
    for (const [name, kind] of Object.entries(kinds)) {
      const value = args[name];
      if (value === undefined) continue;
      const rule = NUMBER_RULES[kind];
      if (
        typeof value !== "number" ||
        !Number.isFinite(value) ||
        !rule.test(value)
      ) {
        const problem =
          typeof value === "number" && Number.isNaN(value)
            ? "is not a number"
            : `${String(value)} is invalid`;
        throw new UsageError(`--${name} ${problem}; give ${rule.expected}`);
      }
    }
    return true;
  };
}
