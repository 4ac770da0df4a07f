import {
  access,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  writeFile,
} from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildViewer, serveViewer, ViewerInputError } from "../node/index.ts";
import { startStaticServer } from "../node/static-server.ts";
import {
  EMBEDDED_RUNS_GLOBAL,
  RUNS_INDEX_FORMAT,
} from "../src/lib/runs-index.ts";
import { makeFixtureRun } from "./fixture.ts";

let dir: string;
let runDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ffads-viewer-node-"));
  runDir = path.join(dir, "runs", "fixture");
  await makeFixtureRun(runDir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function catchViewerInputError(
  promise: Promise<unknown>,
): Promise<ViewerInputError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ViewerInputError);
  return error as ViewerInputError;
}

describe("buildViewer", () => {
  it("copies runs and writes the runs index", async () => {
    const outDir = path.join(dir, "site-copy");
    const bare = path.join(runDir, "saliency");
    const { indexHtml } = await buildViewer({
      runs: [
        { name: "fixture", dir: runDir },
        { name: "bare", dir: bare },
      ],
      outDir,
      embed: false,
    });

    expect(indexHtml).toBe(path.join(outDir, "index.html"));
    const index = JSON.parse(
      await readFile(path.join(outDir, "runs", "index.json"), "utf8"),
    );
    expect(index).toEqual({
      format: RUNS_INDEX_FORMAT,
      version: 1,
      runs: [
        { name: "fixture", path: "runs/fixture" },
        { name: "bare", path: "runs/bare" },
      ],
    });
    expect(
      (await readdir(path.join(outDir, "runs", "fixture", "model"))).sort(),
    ).toEqual(["model.json", "weights.bin"]);
    expect(
      await readdir(path.join(outDir, "runs", "fixture", "saliency")),
    ).toContain("classAds.npy");
    // The bare saliency folder brings the model folder its manifest names (../model).
    expect(await readdir(path.join(outDir, "runs", "bare", "model"))).toContain(
      "model.json",
    );
    await expect(
      access(path.join(outDir, "runs", "embedded.js")),
    ).rejects.toThrow();
  });

  it("embeds the runs for file:// pages", async () => {
    const outDir = path.join(dir, "site-embed");
    const { indexHtml } = await buildViewer({
      runs: [{ name: "fixture", dir: runDir }],
      outDir,
    });

    const html = await readFile(indexHtml, "utf8");
    const embedTag = html.indexOf('<script src="./runs/embedded.js"></script>');
    const appTag = html.indexOf("<script defer");
    expect(embedTag).toBeGreaterThan(0);
    expect(appTag).toBeGreaterThan(embedTag);
    expect(html).not.toContain('type="module"');

    const script = await readFile(
      path.join(outDir, "runs", "embedded.js"),
      "utf8",
    );
    const prefix = `globalThis[${JSON.stringify(EMBEDDED_RUNS_GLOBAL)}] = `;
    expect(script.startsWith(prefix)).toBe(true);
    const embedded = JSON.parse(
      script.slice(prefix.length).trim().replace(/;$/, ""),
    );
    expect(embedded.index.runs).toEqual([
      { name: "fixture", path: "runs/fixture" },
    ]);
    expect(Object.keys(embedded.files)).toContain(
      "runs/fixture/saliency/manifest.json",
    );
    expect(Object.keys(embedded.files)).toContain(
      "runs/fixture/model/model.json",
    );
    expect(Object.keys(embedded.files)).not.toContain(
      "runs/fixture/model/weights.bin",
    );
    const adsBytes = await readFile(path.join(runDir, "saliency", "ads.npy"));
    expect(embedded.files["runs/fixture/saliency/ads.npy"]).toBe(
      adsBytes.toString("base64"),
    );
  });

  it("rebuilds into its own earlier output", async () => {
    const outDir = path.join(dir, "site-rebuild");
    await buildViewer({ runs: [{ name: "first", dir: runDir }], outDir });
    await buildViewer({ runs: [{ name: "second", dir: runDir }], outDir });
    expect(await readdir(path.join(outDir, "runs"))).not.toContain("first");
    expect(await readdir(path.join(outDir, "runs"))).toContain("second");
  });

  it("rejects a folder it did not write", async () => {
    const outDir = path.join(dir, "someone-else");
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, "notes.txt"), "keep me");
    const error = await catchViewerInputError(
      buildViewer({ runs: [{ name: "a", dir: runDir }], outDir }),
    );
    expect(error.code).toBe("invalid-out-dir");
    expect(error.message).toContain(
      "is not empty and was not written by buildViewer",
    );
    expect(await readFile(path.join(outDir, "notes.txt"), "utf8")).toBe(
      "keep me",
    );
  });

  it("rejects an output folder inside a run", async () => {
    const outDir = path.join(runDir, "site");
    const error = await catchViewerInputError(
      buildViewer({ runs: [{ name: "a", dir: runDir }], outDir }),
    );
    expect(error.code).toBe("invalid-out-dir");
  });

  it("rejects invalid and duplicate run names", async () => {
    const outDir = path.join(dir, "site-names");
    for (const name of ["../up", "a/b", "", ".hidden", "with space"]) {
      const error = await catchViewerInputError(
        buildViewer({ runs: [{ name, dir: runDir }], outDir }),
      );
      expect(error.code).toBe("invalid-run-name");
    }
    const duplicate = await catchViewerInputError(
      buildViewer({
        runs: [
          { name: "a", dir: runDir },
          { name: "a", dir: runDir },
        ],
        outDir,
      }),
    );
    expect(duplicate.code).toBe("duplicate-run-name");
  });

  it("rejects a folder that is not a run", async () => {
    const error = await catchViewerInputError(
      buildViewer({
        runs: [{ name: "a", dir: path.join(dir, "nothing") }],
        outDir: path.join(dir, "site-none"),
      }),
    );
    expect(error.code).toBe("not-a-run");
    expect(error.message).toContain(
      "expected saliency/manifest.json, manifest.json, model/model.json or model.json",
    );
  });
});

/** Sends a raw request, so that paths with ".." reach the server unnormalized. */
function rawRequest(
  url: string,
  method: string,
  rawPath: string,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { hostname, port, method, path: rawPath },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("startStaticServer", () => {
  it("serves files and keeps requests inside the root", async () => {
    const root = path.join(dir, "static");
    await mkdir(path.join(root, "sub"), { recursive: true });
    await writeFile(path.join(root, "index.html"), "<p>home</p>");
    await writeFile(path.join(root, "sub", "a.npy"), "npy");
    await writeFile(path.join(dir, "secret.txt"), "secret");
    const server = await startStaticServer(root, 0, "127.0.0.1");
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const home = await fetch(server.url);
      expect(home.status).toBe(200);
      expect(home.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await home.text()).toBe("<p>home</p>");
      const npy = await fetch(new URL("sub/a.npy", server.url));
      expect(npy.headers.get("content-type")).toBe("application/octet-stream");

      expect(
        (await rawRequest(server.url, "GET", "/../secret.txt")).status,
      ).toBe(404);
      expect(
        (await rawRequest(server.url, "GET", "/%2e%2e/secret.txt")).status,
      ).toBe(404);
      expect(
        (await rawRequest(server.url, "GET", "/sub/..%2f..%2fsecret.txt"))
          .status,
      ).toBe(404);
      expect(
        (await rawRequest(server.url, "GET", "/missing.json")).status,
      ).toBe(404);
      expect((await rawRequest(server.url, "GET", "/%E0%A4%A")).status).toBe(
        400,
      );
      expect((await rawRequest(server.url, "POST", "/index.html")).status).toBe(
        405,
      );
      const head = await rawRequest(server.url, "HEAD", "/index.html");
      expect(head.status).toBe(200);
      expect(head.body).toBe("");
    } finally {
      await server.close();
    }
  });
});

describe("serveViewer", () => {
  it("serves the runs until closed", async () => {
    const served = await serveViewer({
      runs: [{ name: "fixture", dir: runDir }],
      port: 0,
      host: "127.0.0.1",
    });
    const index = await (
      await fetch(new URL("runs/index.json", served.url))
    ).json();
    expect(index.runs).toEqual([{ name: "fixture", path: "runs/fixture" }]);
    const manifest = await fetch(
      new URL("runs/fixture/saliency/manifest.json", served.url),
    );
    expect(manifest.status).toBe(200);
    await served.close();
    await expect(fetch(served.url)).rejects.toThrow();
  });
});
