import { main, type Streams } from "../src/main.ts";

/** The exit code and the text a command line wrote to stdout and stderr. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `ff` command line in this process, with stdout and stderr captured. */
export async function runCli(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const streams: Streams = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  };
  const code = await main(args, streams);
  return { code, stdout, stderr };
}

/** Runs the `ff` command line and throws, with its stderr, unless it exits 0. */
export async function runCliOrThrow(args: string[]): Promise<CliResult> {
  const result = await runCli(args);
  if (result.code !== 0) {
    throw new Error(
      `ff ${args.join(" ")} exited ${result.code}:\n${result.stderr}`,
    );
  }
  return result;
}
