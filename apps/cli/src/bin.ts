import { hideBin } from "yargs/helpers";

import { main } from "./main.ts";

// pnpm runs the `ff` script from the workspace root and passes the folder it was started in as
// INIT_CWD, so relative paths are resolved from where the user typed the command.
const startedIn = process.env.INIT_CWD;
if (startedIn !== undefined && startedIn !== "") process.chdir(startedIn);

process.exitCode = await main(hideBin(process.argv));
