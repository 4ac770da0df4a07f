import { hideBin } from "yargs/helpers";

import { main } from "./main.ts";

process.exitCode = await main(hideBin(process.argv));
