/** Type checks for the fields of a parsed JSON file, used by manifest.ts. */

/** Collects one message per invalid field instead of stopping at the first. */
export class FieldChecker {
  readonly problems: string[] = [];

  fail(field: string, expected: string, found: unknown): void {
    const problem =
      found === undefined
        ? `field "${field}" is missing; expected ${expected}`
        : `field "${field}" must be ${expected}, found ${describeValue(found)}`;
    this.problems.push(problem);
  }

  string(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): string | null {
    const value = parent[key];
    if (typeof value === "string") return value;
    this.fail(field, "a string", value);
    return null;
  }

  boolean(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): boolean | null {
    const value = parent[key];
    if (typeof value === "boolean") return value;
    this.fail(field, "true or false", value);
    return null;
  }

  oneOf<T extends string>(
    parent: Record<string, unknown>,
    key: string,
    options: readonly T[],
    field = key,
  ): T | null {
    const value = parent[key];
    if (
      typeof value === "string" &&
      (options as readonly string[]).includes(value)
    )
      return value as T;
    this.fail(
      field,
      `one of ${options.map((option) => `"${option}"`).join(", ")}`,
      value,
    );
    return null;
  }

  integer(
    parent: Record<string, unknown>,
    key: string,
    field = key,
    limits: { min?: number; max?: number } = {},
  ): number | null {
    const value = parent[key];
    if (isIntegerInRange(value, limits)) return value;
    this.fail(field, `an integer${describeRange(limits)}`, value);
    return null;
  }

  fraction(
    parent: Record<string, unknown>,
    key: string,
    field = key,
    options: { nullable?: boolean } = {},
  ): void {
    const value = parent[key];
    if (options.nullable && (value === null || value === undefined)) return;
    if (typeof value === "number" && value >= 0 && value <= 1) return;
    this.fail(
      field,
      `a fraction in [0, 1]${options.nullable ? " or null" : ""}`,
      value,
    );
  }

  object(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): Record<string, unknown> | null {
    const value = parent[key];
    if (isPlainObject(value)) return value;
    this.fail(field, "an object", value);
    return null;
  }

  optionalObject(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): Record<string, unknown> | null {
    const value = parent[key];
    if (value === undefined || value === null) return null;
    if (isPlainObject(value)) return value;
    this.fail(field, "an object or null", value);
    return null;
  }

  array(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): unknown[] | null {
    const value = parent[key];
    if (Array.isArray(value)) return value;
    this.fail(field, "an array", value);
    return null;
  }

  stringArray(
    parent: Record<string, unknown>,
    key: string,
    field = key,
  ): string[] | null {
    const value = parent[key];
    if (Array.isArray(value) && value.every((item) => typeof item === "string"))
      return value;
    this.fail(field, "an array of strings", value);
    return null;
  }

  integerArray(
    parent: Record<string, unknown>,
    key: string,
    field = key,
    options: { min?: number; length?: number } = {},
  ): number[] | null {
    const value = parent[key];
    const lengthOk =
      options.length === undefined ||
      (Array.isArray(value) && value.length === options.length);
    if (
      Array.isArray(value) &&
      lengthOk &&
      value.every((item) => isIntegerInRange(item, options))
    )
      return value;
    const count =
      options.length === undefined
        ? "an array"
        : `an array of ${options.length}`;
    this.fail(field, `${count} of integers${describeRange(options)}`, value);
    return null;
  }

  /** Checks a path relative to the folder: no absolute path, no backslash and no ".." unless allowed. */
  relativePath(
    parent: Record<string, unknown>,
    key: string,
    field = key,
    options: { allowParent?: boolean } = {},
  ): void {
    const value = parent[key];
    const segments = typeof value === "string" ? value.split("/") : [];
    const valid =
      typeof value === "string" &&
      value !== "" &&
      !value.startsWith("/") &&
      !value.includes("\\") &&
      !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value) &&
      (options.allowParent || !segments.includes(".."));
    if (valid) return;
    const expected = options.allowParent
      ? "a relative path"
      : 'a relative path inside the folder (no "..")';
    this.fail(field, expected, value);
  }
}

export function isPlainObject(
  value: unknown,
): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isIntegerInRange(
  value: unknown,
  limits: { min?: number; max?: number },
): value is number {
  if (typeof value !== "number" || !Number.isInteger(value)) return false;
  if (limits.min !== undefined && value < limits.min) return false;
  if (limits.max !== undefined && value > limits.max) return false;
  return true;
}

/** Describes integer limits as a suffix, e.g. " in [0, 9]" or " >= 1". */
function describeRange(limits: { min?: number; max?: number }): string {
  if (limits.min !== undefined && limits.max !== undefined)
    return ` in [${limits.min}, ${limits.max}]`;
  if (limits.min !== undefined) return ` >= ${limits.min}`;
  if (limits.max !== undefined) return ` <= ${limits.max}`;
  return "";
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
