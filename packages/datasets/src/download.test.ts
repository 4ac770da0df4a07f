import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { makeTempDir, MNIST_DATA_DIR } from "../test/fixtures.ts";
import {
  dropHalfway,
  hang,
  refusedOrigin,
  serveBytes,
  stallHalfway,
  startMirrorServer,
  type MirrorServer,
  type RouteHandler,
} from "../test/mirror-server.ts";
import { datasetInfo } from "./catalog.ts";
import { clearChecksumMemo } from "./checksum.ts";
import { DatasetError } from "./errors.ts";
import type { DatasetEvent } from "./events.ts";
import { loadDataset } from "./load.ts";
import type { LoadOptions } from "./settings.ts";

const MNIST_TEST = datasetInfo("mnist").splits.test;
const LABELS_GZ = MNIST_TEST.labels.fileName;
const IMAGES_GZ = MNIST_TEST.images.fileName;

/** Gzip copies of the official MNIST test files, as a mirror serves them. */
let labelsGzip: Uint8Array;
let imagesGzip: Uint8Array;
/** The labels gzip with one label changed, so it has a wrong checksum. */
let wrongLabelsGzip: Uint8Array;

let server: MirrorServer | undefined;

beforeAll(async () => {
  const labels = await readFile(
    join(MNIST_DATA_DIR, MNIST_TEST.labels.rawName),
  );
  const images = await readFile(
    join(MNIST_DATA_DIR, MNIST_TEST.images.rawName),
  );
  labelsGzip = gzipSync(labels);
  imagesGzip = gzipSync(images, { level: 1 });
  const wrongLabels = Buffer.from(labels);
  wrongLabels[8] = 1;
  wrongLabelsGzip = gzipSync(wrongLabels);
});

beforeEach(() => {
  clearChecksumMemo();
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function startServer(
  routes: Record<string, RouteHandler>,
): Promise<MirrorServer> {
  server = await startMirrorServer(routes);
  return server;
}

/** Routes that serve both MNIST test files under `prefix`, e.g. `/good/`. */
function goodMirror(prefix: string): Record<string, RouteHandler> {
  return {
    [`${prefix}${LABELS_GZ}`]: serveBytes(labelsGzip),
    [`${prefix}${IMAGES_GZ}`]: serveBytes(imagesGzip),
  };
}

/** Options for a download-only load: no other source, a fresh cache, a short timeout. */
async function downloadOptions(
  options: LoadOptions,
): Promise<LoadOptions & { cacheDir: string }> {
  return {
    env: {},
    useBundledCopies: false,
    cacheDir: await makeTempDir(),
    download: true,
    downloadTimeoutMs: 2_000,
    ...options,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<DatasetError> {
  const error = await promise.then(
    () => expect.fail("expected a DatasetError"),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DatasetError);
  return error as DatasetError;
}

describe("download", () => {
  it("downloads a split into the cache", async () => {
    const { origin } = await startServer(goodMirror("/good/"));
    const events: DatasetEvent[] = [];
    const options = await downloadOptions({
      mirrors: [`${origin}/good/`],
      onEvent: (event) => events.push(event),
    });

    const imageSet = await loadDataset("mnist", "test", options);

    const cacheFolder = join(options.cacheDir, "mnist");
    expect(imageSet.count).toBe(10_000);
    expect(imageSet.labels[0]).toBe(7);
    expect(imageSet.source).toBe(cacheFolder);
    expect((await readdir(cacheFolder)).sort()).toEqual([IMAGES_GZ, LABELS_GZ]);
    expect(
      Buffer.compare(await readFile(join(cacheFolder, LABELS_GZ)), labelsGzip),
    ).toBe(0);

    const completed = events.filter(
      (event) => event.type === "download-complete",
    );
    expect(completed.map((event) => event.url)).toEqual([
      `${origin}/good/${LABELS_GZ}`,
      `${origin}/good/${IMAGES_GZ}`,
    ]);
    const imagesProgress = events.filter(
      (event) =>
        event.type === "download-progress" && event.fileName === IMAGES_GZ,
    );
    expect(imagesProgress.at(-1)).toMatchObject({
      receivedBytes: imagesGzip.byteLength,
      totalBytes: imagesGzip.byteLength,
    });
  });

  it("reuses the cache without downloading", async () => {
    const mirror = await startServer(goodMirror("/good/"));
    const options = await downloadOptions({
      mirrors: [`${mirror.origin}/good/`],
    });
    await loadDataset("mnist", "test", options);
    const requestCount = mirror.requests.length;
    const events: DatasetEvent[] = [];

    const imageSet = await loadDataset("mnist", "test", {
      ...options,
      download: false,
      onEvent: (event) => events.push(event),
    });

    expect(imageSet.source).toBe(join(options.cacheDir, "mnist"));
    expect(mirror.requests.length).toBe(requestCount);
    const verified = events.filter((event) => event.type === "file-verified");
    expect(verified.map((event) => event.memoised)).toEqual([true, true]);
  });

  it("downloads only the files the cache lacks", async () => {
    const mirror = await startServer(goodMirror("/good/"));
    const options = await downloadOptions({
      mirrors: [`${mirror.origin}/good/`],
    });
    await mkdir(join(options.cacheDir, "mnist"));
    await writeFile(join(options.cacheDir, "mnist", IMAGES_GZ), imagesGzip);

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.count).toBe(10_000);
    expect(mirror.requests).toEqual([`/good/${LABELS_GZ}`]);
  });

  it("reads mirrors from FFADS_MIRROR", async () => {
    const mirror = await startServer(goodMirror("/mnist/"));
    const options = await downloadOptions({
      env: {
        FFADS_MIRROR: `${await refusedOrigin()}/unused/, ${mirror.origin}/{dataset}`,
      },
    });
    delete options.mirrors;

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.count).toBe(10_000);
    expect(mirror.requests).toEqual([
      `/mnist/${LABELS_GZ}`,
      `/mnist/${IMAGES_GZ}`,
    ]);
  });

  it("allows downloads through FFADS_DOWNLOAD", async () => {
    const { origin } = await startServer(goodMirror("/good/"));
    const options = await downloadOptions({
      env: { FFADS_DOWNLOAD: "1" },
      mirrors: [`${origin}/good/`],
    });
    delete options.download;

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.count).toBe(10_000);
  });

  it("stores a response decoded by fetch under the raw name", async () => {
    const { origin } = await startServer({
      [`/encoded/${LABELS_GZ}`]: serveBytes(labelsGzip, {
        "Content-Encoding": "gzip",
      }),
      [`/encoded/${IMAGES_GZ}`]: serveBytes(imagesGzip),
    });
    const options = await downloadOptions({ mirrors: [`${origin}/encoded/`] });

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.labels[0]).toBe(7);
    expect((await readdir(join(options.cacheDir, "mnist"))).sort()).toEqual([
      IMAGES_GZ,
      MNIST_TEST.labels.rawName,
    ]);
  });

  it("falls over to the next mirror after a 404", async () => {
    const { origin } = await startServer(goodMirror("/good/"));
    const events: DatasetEvent[] = [];
    const options = await downloadOptions({
      mirrors: [`${origin}/missing/`, `${origin}/good/`],
      onEvent: (event) => events.push(event),
    });

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.count).toBe(10_000);
    const failures = events.filter((event) => event.type === "mirror-failed");
    expect(failures).toEqual([
      {
        type: "mirror-failed",
        dataset: "mnist",
        fileName: LABELS_GZ,
        url: `${origin}/missing/${LABELS_GZ}`,
        message: "HTTP 404 Not Found",
      },
      {
        type: "mirror-failed",
        dataset: "mnist",
        fileName: IMAGES_GZ,
        url: `${origin}/missing/${IMAGES_GZ}`,
        message: "HTTP 404 Not Found",
      },
    ]);
  });

  it("rejects a checksum mismatch and keeps no file", async () => {
    const { origin } = await startServer({
      [`/wrong/${LABELS_GZ}`]: serveBytes(wrongLabelsGzip),
      [`/wrong/${IMAGES_GZ}`]: serveBytes(imagesGzip),
    });
    const options = await downloadOptions({ mirrors: [`${origin}/wrong/`] });

    const error = await rejectionOf(loadDataset("mnist", "test", options));

    expect(error.code).toBe("DOWNLOAD_FAILED");
    expect(error.message).toContain(
      `${origin}/wrong/${LABELS_GZ}: SHA-256 mismatch`,
    );
    expect(error.message).toContain(`expected ${MNIST_TEST.labels.sha256}`);
    expect(await readdir(join(options.cacheDir, "mnist"))).toEqual([]);
  });

  it("rejects bytes that are not gzip or IDX", async () => {
    const { origin } = await startServer({
      [`/html/${LABELS_GZ}`]: serveBytes(
        new TextEncoder().encode("<html>moved</html>"),
      ),
    });
    const options = await downloadOptions({ mirrors: [`${origin}/html/`] });

    const error = await rejectionOf(loadDataset("mnist", "test", options));

    expect(error.code).toBe("DOWNLOAD_FAILED");
    expect(error.message).toContain("SHA-256 mismatch");
    expect(await readdir(join(options.cacheDir, "mnist"))).toEqual([]);
  });

  it("abandons a mirror that never answers", async () => {
    const { origin } = await startServer({
      [`/hang/${LABELS_GZ}`]: hang(),
      ...goodMirror("/good/"),
    });
    const events: DatasetEvent[] = [];
    const options = await downloadOptions({
      mirrors: [`${origin}/hang/`, `${origin}/good/`],
      downloadTimeoutMs: 300,
      onEvent: (event) => events.push(event),
    });

    const imageSet = await loadDataset("mnist", "test", options);

    expect(imageSet.count).toBe(10_000);
    const failure = events.find((event) => event.type === "mirror-failed");
    expect(failure).toMatchObject({
      url: `${origin}/hang/${LABELS_GZ}`,
      message: "timed out: no response within 300 ms",
    });
  });

  it("fails when every mirror breaks", async () => {
    const total = labelsGzip.byteLength;
    const half = total >> 1;
    const { origin } = await startServer({
      [`/stall/${LABELS_GZ}`]: stallHalfway(labelsGzip),
      [`/drop/${LABELS_GZ}`]: dropHalfway(labelsGzip),
    });
    const refused = await refusedOrigin();
    const options = await downloadOptions({
      mirrors: [`${origin}/stall/`, `${origin}/drop/`, `${refused}/refused/`],
      downloadTimeoutMs: 300,
    });

    const error = await rejectionOf(loadDataset("mnist", "test", options));

    expect(error.code).toBe("DOWNLOAD_FAILED");
    const lines = error.message.split("\n");
    expect(lines[0]).toBe(
      `Download of MNIST ${LABELS_GZ} failed from every mirror:`,
    );
    expect(lines[1]).toBe(
      `  ${origin}/stall/${LABELS_GZ}: timed out: no data for 300 ms, after ${half} of ${total} bytes`,
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^  ${origin}/drop/${LABELS_GZ}: connection lost after ${half} of ${total} bytes: `,
      ),
    );
    expect(lines[3]).toMatch(
      new RegExp(
        `^  ${refused}/refused/${LABELS_GZ}: fetch failed \\(.*ECONNREFUSED.*\\)$`,
      ),
    );
    expect(error.message).toContain(join(options.cacheDir, "mnist"));
    expect(await readdir(join(options.cacheDir, "mnist"))).toEqual([]);
  });

  it("abandons a response larger than the file can be", async () => {
    const oversized = new Uint8Array(
      MNIST_TEST.labels.byteLength + 2 * 1024 * 1024,
    );
    const { origin } = await startServer({
      [`/declared/${LABELS_GZ}`]: serveBytes(oversized),
      [`/chunked/${LABELS_GZ}`]: (_request, response) => {
        response.writeHead(200, { "Content-Type": "application/octet-stream" });
        response.end(oversized);
      },
    });
    const options = await downloadOptions({
      mirrors: [`${origin}/declared/`, `${origin}/chunked/`],
    });

    const error = await rejectionOf(loadDataset("mnist", "test", options));

    const maxBytes = MNIST_TEST.labels.byteLength + 1024 * 1024;
    const lines = error.message.split("\n");
    expect(lines[1]).toBe(
      `  ${origin}/declared/${LABELS_GZ}: the response declares ${oversized.byteLength} bytes, ` +
        `more than the ${maxBytes} that a copy of this file can have`,
    );
    expect(lines[2]).toBe(
      `  ${origin}/chunked/${LABELS_GZ}: the response exceeds ${maxBytes} bytes, ` +
        `more than a copy of this file can have`,
    );
  });
});
