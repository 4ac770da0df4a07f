import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";

/**
 * SHA-256 values of decompressed IDX files that this process has computed, keyed by file
 * identity, so repeated loads of an unchanged file skip hashing it.
 */
const sha256ByFile = new Map<string, string>();

/**
 * Returns a key that changes when the file is replaced or modified: its real path, device,
 * inode, size and modification time.
 */
export async function fileIdentity(path: string): Promise<string> {
  const realPath = await realpath(path);
  const info = await stat(realPath);
  return `${realPath}|${info.dev}:${info.ino}|${info.size}|${info.mtimeMs}`;
}

/** Returns the SHA-256 of the bytes in lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function memoisedSha256(identity: string): string | undefined {
  return sha256ByFile.get(identity);
}

export function rememberSha256(identity: string, sha256: string): void {
  sha256ByFile.set(identity, sha256);
}

/** Forgets every memoised checksum, so the next load hashes its files again. */
export function clearChecksumMemo(): void {
  sha256ByFile.clear();
}
