import { readFile } from "node:fs/promises";
import path from "node:path";
import { FormatError } from "./errors.ts";
import { errorMessage, type FolderSource } from "./source.ts";

/**
 * Returns a source that reads files under the folder `dir` with Node's fs. It is kept out of
 * reader.ts so that browser bundles of the reader never import `node:fs`.
 */
export function nodeFolderSource(dir: string): FolderSource {
  const root = path.resolve(dir);
  const pathOf = (relPath: string) => path.resolve(root, ...relPath.split("/"));

  async function read(relPath: string): Promise<Buffer> {
    const file = pathOf(relPath);
    try {
      return await readFile(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT")
        throw new FormatError("missing-file", file, "file not found");
      throw new FormatError(
        "read-failed",
        file,
        `read failed: ${errorMessage(error)}`,
      );
    }
  }

  return {
    readText: async (relPath) => (await read(relPath)).toString("utf8"),
    readBytes: async (relPath) => {
      const buffer = await read(relPath);
      return new Uint8Array(
        buffer.buffer,
        buffer.byteOffset,
        buffer.byteLength,
      );
    },
    describePath: pathOf,
  };
}
