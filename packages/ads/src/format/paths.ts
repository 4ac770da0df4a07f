/**
 * Normalizes a "/"-separated relative path: drops "." and empty segments and resolves ".." against
 * the segment before it. A ".." with nothing before it stays, so the result may start with "../".
 */
export function normalizePath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (
      segment === ".." &&
      segments.length > 0 &&
      segments[segments.length - 1] !== ".."
    ) {
      segments.pop();
    } else {
      segments.push(segment);
    }
  }
  return segments.join("/");
}

/** Joins "/"-separated relative paths and normalizes the result. */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((part) => part !== "").join("/"));
}

/** Returns the folder part of a relative path: "" for a path with no "/". */
export function parentPath(path: string): string {
  const normalized = normalizePath(path);
  const slash = normalized.lastIndexOf("/");
  return slash < 0 ? "" : normalized.slice(0, slash);
}
