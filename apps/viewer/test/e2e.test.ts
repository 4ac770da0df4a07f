/**
 * End-to-end tests in real Chromium: build the site with fixture runs, open it, read canvas pixels
 * back and use the controls.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  colormapColor,
  divergingColor,
  encodeNpy,
  NAN_COLOR,
  parseNpy,
  sequentialColor,
} from "@ffads/ads/format";
import { type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildViewer, serveViewer } from "../node/index.ts";
import {
  BLUE_END,
  cellColor,
  expectCell,
  launchChromium,
  RED_END,
  WHITE,
} from "./browser.ts";
import { FIXTURE, makeFixtureRun } from "./fixture.ts";

let workDir: string;
let context: BrowserContext;
let served: { url: string; close(): Promise<void> };
let fixtureDir: string;
let brokenDir: string;
let fileIndexHtml: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "ffads-viewer-e2e-"));
  fixtureDir = path.join(workDir, "fixture");
  await makeFixtureRun(fixtureDir);

  // "second" doubles the dataset-level map, to tell the panes apart and test the shared scale.
  const secondDir = path.join(workDir, "second");
  await cp(fixtureDir, secondDir, { recursive: true });
  const adsFile = path.join(secondDir, "saliency", "ads.npy");
  const ads = parseNpy(await readFile(adsFile), adsFile);
  await writeFile(
    adsFile,
    encodeNpy({ shape: ads.shape, data: ads.data.map((value) => value * 2) }),
  );

  // "broken" has a classAds.npy whose shape differs from the manifest's.
  brokenDir = path.join(workDir, "broken");
  await cp(fixtureDir, brokenDir, { recursive: true });
  await writeFile(
    path.join(brokenDir, "saliency", "classAds.npy"),
    encodeNpy({ shape: [10, 784], data: new Float32Array(7840) }),
  );

  // "invalid" has a manifest with an invalid window and no clean accuracy.
  const invalidDir = path.join(workDir, "invalid");
  await cp(fixtureDir, invalidDir, { recursive: true });
  const invalidManifestFile = path.join(
    invalidDir,
    "saliency",
    "manifest.json",
  );
  const invalidManifest = JSON.parse(
    await readFile(invalidManifestFile, "utf8"),
  );
  invalidManifest.window = 0;
  delete invalidManifest.cleanAccuracy;
  await writeFile(invalidManifestFile, JSON.stringify(invalidManifest));

  // "markup" puts HTML into class names, which must show as text.
  const markupDir = path.join(workDir, "markup");
  await cp(fixtureDir, markupDir, { recursive: true });
  const manifestFile = path.join(markupDir, "saliency", "manifest.json");
  const manifest = JSON.parse(await readFile(manifestFile, "utf8"));
  manifest.classNames[0] = '<img id="injected" src="x">';
  await writeFile(manifestFile, JSON.stringify(manifest));

  const runs = [
    { name: "fixture", dir: fixtureDir },
    { name: "second", dir: secondDir },
    { name: "broken", dir: brokenDir },
    { name: "bare", dir: path.join(fixtureDir, "saliency") },
    { name: "markup", dir: markupDir },
    { name: "invalid", dir: invalidDir },
  ];
  served = await serveViewer({ runs, port: 0, host: "127.0.0.1" });
  const built = await buildViewer({ runs, outDir: path.join(workDir, "site") });
  fileIndexHtml = built.indexHtml;

  context = await launchChromium(path.join(workDir, "chromium-profile"));
});

afterAll(async () => {
  await context?.close();
  await served?.close();
  await rm(workDir, { recursive: true, force: true });
});

async function openPage(query = ""): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(served.url + query);
  return page;
}

function pane(page: Page, index = 0): Locator {
  return page.getByTestId("run-pane").nth(index);
}

describe("viewer in Chromium", () => {
  it("draws the dataset map with the diverging colormap", async () => {
    const page = await openPage();
    const map = pane(page).getByTestId("dataset-map");
    // The widest value is 20 accuracy points, so the colour range is [-20, 20].
    await expectCell(map, 0, 0, RED_END);
    await expectCell(map, 0, 1, BLUE_END);
    await expectCell(map, 0, 2, WHITE);
    await expectCell(map, 0, 3, divergingColor(10, 20));
    await expectCell(map, 0, 4, divergingColor(-5, 20));
    await expectCell(
      map,
      5,
      5,
      divergingColor(FIXTURE.adsBackground(5, 5), 20),
    );
    await expectCell(
      map,
      5,
      6,
      divergingColor(FIXTURE.adsBackground(5, 6), 20),
    );

    expect(await map.getAttribute("width")).toBe("28");
    expect(await map.getAttribute("height")).toBe("28");
    expect(
      await map.evaluate((element) => getComputedStyle(element).imageRendering),
    ).toBe("pixelated");
    expect((await map.boundingBox())!.width).toBeGreaterThan(100);

    const ticks = pane(page)
      .getByTestId("dataset-colorbar")
      .getByTestId("colorbar-tick");
    await expect
      .poll(() => ticks.allTextContents())
      .toEqual(["+20", "+10", "0", "-10", "-20"]);
    await expect
      .poll(() => pane(page).getByTestId("dataset-colorbar").textContent())
      .toContain("accuracy points");
    await page.close();
  });

  it("draws one map per class, grey for a class without images", async () => {
    const page = await openPage();
    const grid = pane(page).getByTestId("class-grid");
    await expect.poll(() => grid.locator("canvas").count()).toBe(10);
    // Class k is (k - 4.5) * 2 everywhere, so class 9 is the widest value, 9.
    await expectCell(grid.getByTestId("class-map-9"), 3, 3, RED_END);
    await expectCell(grid.getByTestId("class-map-0"), 3, 3, BLUE_END);
    await expectCell(
      grid.getByTestId("class-map-4"),
      3,
      3,
      divergingColor(FIXTURE.classValue(4), 9),
    );
    await expectCell(
      grid.getByTestId(`class-map-${FIXTURE.emptyClass}`),
      3,
      3,
      NAN_COLOR,
    );
    expect(await grid.textContent()).toContain(
      "eight: 0 images, clean accuracy n/a",
    );
    await page.close();
  });

  it("blends the class map over each sample image", async () => {
    const page = await openPage();
    const overlay = pane(page).getByTestId("sample-overlay-0");
    // Sample 0 has label 0, whose class map is -9 everywhere: the blue end at the default 0.6.
    const blend = (gray: number) =>
      BLUE_END.map((channel) => Math.round(0.4 * gray + 0.6 * channel));
    await expectCell(overlay, 10, 10, blend(255));
    await expectCell(overlay, 0, 0, blend(0));
    // Per-image maps share one range: sample 5 is the widest, 1.5 goodness.
    await expectCell(pane(page).getByTestId("sample-map-5"), 0, 0, RED_END);
    await expectCell(
      pane(page).getByTestId("sample-map-0"),
      0,
      0,
      divergingColor(FIXTURE.sampleMapValue(0), 1.5),
    );

    await pane(page).page().getByTestId("opacity").fill("1");
    await expectCell(overlay, 10, 10, BLUE_END);
    await pane(page).page().getByTestId("overlay-source").selectOption("image");
    await expectCell(
      overlay,
      10,
      10,
      divergingColor(FIXTURE.sampleMapValue(0), 1.5),
    );
    await page.close();
  });

  it("applies the sign, colormap and clipping controls", async () => {
    const page = await openPage();
    const map = pane(page).getByTestId("dataset-map");
    await expectCell(map, 0, 1, BLUE_END);

    await page.getByTestId("sign").selectOption("positive");
    await expectCell(map, 0, 1, WHITE);
    await expectCell(map, 0, 0, RED_END);
    await page.getByTestId("sign").selectOption("negative");
    await expectCell(map, 0, 0, WHITE);
    await expectCell(map, 0, 1, BLUE_END);
    await page.getByTestId("sign").selectOption("absolute");
    await expectCell(map, 0, 1, RED_END);

    await page.getByTestId("sign").selectOption("all");
    await page.getByTestId("colormap").selectOption("sequential");
    await expectCell(map, 0, 0, sequentialColor(20, 20));
    await expectCell(map, 0, 1, sequentialColor(20, 20));
    await expectCell(map, 0, 2, WHITE);
    await expectCell(map, 0, 3, colormapColor("sequential", 10, 20));
    const ticks = pane(page)
      .getByTestId("dataset-colorbar")
      .getByTestId("colorbar-tick");
    await expect
      .poll(() => ticks.allTextContents())
      .toEqual(["+20", "+10", "0"]);

    // All but 6 of the 784 magnitudes are 1, so clipping at the 50th percentile makes the range 1.
    await page.getByTestId("colormap").selectOption("diverging");
    await page.getByTestId("clip-percentile").fill("50");
    await expectCell(map, 0, 3, RED_END);
    await expectCell(map, 0, 4, BLUE_END);
    await expectCell(map, 5, 5, RED_END);
    await expect
      .poll(() => ticks.allTextContents())
      .toEqual(["+1", "+0.5", "0", "-0.5", "-1"]);
    await page.close();
  });

  it("shows the exact value under the pointer", async () => {
    const page = await openPage();
    const map = pane(page).getByTestId("dataset-map");
    await expectCell(map, 0, 0, RED_END);
    const box = (await map.boundingBox())!;
    const cell = box.width / FIXTURE.cols;
    await page.mouse.move(box.x + 5.5 * cell, box.y + 0.5 * cell);
    // The cell contains float32 0.1, which prints as 0.1, not 0.10000000149.
    await expect
      .poll(() => pane(page).getByTestId("tooltip").textContent())
      .toBe("row 0, col 5: 0.1 accuracy points");
    await page.mouse.move(box.x + 1.5 * cell, box.y + 0.5 * cell);
    await expect
      .poll(() => pane(page).getByTestId("tooltip").textContent())
      .toBe("row 0, col 1: -20 accuracy points");
    await page.close();
  });

  it("filters classes and samples", async () => {
    const page = await openPage();
    const grid = pane(page).getByTestId("class-grid");
    const samples = pane(page).getByTestId("sample-card");
    await expect.poll(() => samples.count()).toBe(6);

    await page.getByTestId("class-filter").getByLabel("zero").uncheck();
    await expect.poll(() => grid.locator("canvas").count()).toBe(9);
    expect(await grid.getByTestId("class-map-0").count()).toBe(0);
    await expect.poll(() => samples.count()).toBe(5);

    await page.getByTestId("correctness").selectOption("incorrect");
    await expect.poll(() => samples.count()).toBe(2);
    await page.getByTestId("correctness").selectOption("correct");
    await expect.poll(() => samples.count()).toBe(3);
    await page.close();
  });

  it("shows the metadata and the loss curves", async () => {
    const page = await openPage();
    const metadata = pane(page).getByTestId("metadata");
    await metadata.waitFor();
    const rows = await metadata.evaluate((list) =>
      Object.fromEntries(
        Array.from(list.querySelectorAll("dt"), (term) => [
          term.textContent,
          term.nextElementSibling?.textContent,
        ]),
      ),
    );
    expect(rows).toMatchObject({
      Model: "Forward-Forward MLP [784, 20, 20]",
      Dataset: "mnist (test split)",
      "Images (N)": "180",
      Window: "4 x 4 pixels",
      Stride: "2 pixels",
      Baseline: "zero (pixel value 0)",
      "Clean accuracy": "90.0%",
      "Test accuracy": "91.0%",
    });

    const curves = pane(page)
      .getByTestId("loss-chart")
      .getByTestId("loss-curve");
    await expect.poll(() => curves.count()).toBe(2);
    const pathData = (await curves.first().getAttribute("d"))!;
    expect(pathData.split(" ")).toHaveLength(FIXTURE.epochs);
    await page.close();
  });

  it("shows two runs side by side on one scale", async () => {
    const page = await openPage("?run=runs/fixture&run=runs/second");
    await expect.poll(() => page.getByTestId("run-pane").count()).toBe(2);
    // URL parameters that name runs of the build select those runs, by name.
    expect(
      await page
        .getByTestId("run-right")
        .locator("option:checked")
        .textContent(),
    ).toBe("second");
    const left = pane(page, 0).getByTestId("dataset-map");
    const right = pane(page, 1).getByTestId("dataset-map");
    // "second" doubles the map, so on the shared scale [-40, 40] the left +20 is halfway.
    await expectCell(right, 0, 0, RED_END);
    await expectCell(left, 0, 0, divergingColor(20, 40));

    await page.getByTestId("shared-scale").uncheck();
    await expectCell(left, 0, 0, RED_END);
    await expectCell(right, 0, 0, RED_END);

    await page.getByTestId("run-right").selectOption({ label: "none" });
    await expect.poll(() => page.getByTestId("run-pane").count()).toBe(1);
    await page.close();
  });

  it("names the file and problem of a malformed run", async () => {
    const page = await openPage();
    await page.getByTestId("run-left").selectOption({ label: "broken" });
    const error = page.getByTestId("error");
    await expect
      .poll(() => error.getByTestId("error-file").textContent())
      .toBe(`${served.url}runs/broken/saliency/classAds.npy:`);
    expect(await error.getByTestId("error-problem").allTextContents()).toEqual([
      "the array has shape [10, 784], but manifest.json lists [10, 28, 28] for arrays.classAds",
    ]);
    expect(await page.getByTestId("run-pane").count()).toBe(0);
    await page.close();
  });

  it("lists every invalid manifest field", async () => {
    const page = await openPage("?run=runs/invalid");
    const error = page.getByTestId("error");
    await expect
      .poll(() => error.getByTestId("error-file").textContent())
      .toBe(`${served.url}runs/invalid/saliency/manifest.json:`);
    expect(await error.getByTestId("error-problem").allTextContents()).toEqual([
      'field "window" must be an integer >= 1, found 0',
      'field "cleanAccuracy" is missing; expected a fraction in [0, 1]',
    ]);
    await page.close();
  });

  it("opens a bare saliency folder with its model", async () => {
    const page = await openPage("?saliency=runs/bare/saliency");
    await expectCell(pane(page).getByTestId("dataset-map"), 0, 0, RED_END);
    await expect
      .poll(() => pane(page).getByTestId("loss-curve").count())
      .toBe(2);
    await page.close();
  });

  it("shows manifest strings as text, never as HTML", async () => {
    const page = await openPage("?run=runs/markup");
    await expect
      .poll(() => pane(page).getByTestId("class-grid").textContent())
      .toContain('<img id="injected" src="x">');
    expect(await page.locator("#injected").count()).toBe(0);
    await page.close();
  });

  it("opens a folder URL typed into the form", async () => {
    const page = await openPage();
    await expectCell(
      pane(page).getByTestId("dataset-map"),
      0,
      3,
      divergingColor(10, 20),
    );
    await page.getByTestId("folder-url").fill("runs/second");
    await page.getByRole("button", { name: "Open URL" }).click();
    await expectCell(
      pane(page).getByTestId("dataset-map"),
      0,
      3,
      divergingColor(20, 40),
    );
    expect(new URL(page.url()).searchParams.get("run")).toBe("runs/second");
    await page.close();
  });

  it("opens a folder chosen with the picker", async () => {
    const page = await openPage("?run=runs/second");
    await page.getByTestId("folder-picker").setInputFiles(fixtureDir);
    // The run is named after the chosen folder.
    await expect
      .poll(() => pane(page).locator(".run-title").textContent())
      .toBe("fixture");
    await expectCell(
      pane(page).getByTestId("dataset-map"),
      0,
      3,
      divergingColor(10, 20),
    );
    await expect
      .poll(() => pane(page).getByTestId("loss-curve").count())
      .toBe(2);
    await page.close();
  });

  it("reports a malformed folder chosen with the picker", async () => {
    const page = await openPage();
    await page.getByTestId("folder-picker").setInputFiles(brokenDir);
    const error = page.getByTestId("error");
    await expect
      .poll(() => error.getByTestId("error-file").textContent())
      .toBe("broken/saliency/classAds.npy:");
    expect(await error.getByTestId("error-problem").textContent()).toMatch(
      /^the array has shape \[10, 784\]/,
    );
    await page.close();
  });

  it("opens dropped files", async () => {
    const page = await openPage();
    await expectCell(pane(page).getByTestId("dataset-map"), 0, 0, RED_END);
    // A script cannot put a folder into a DataTransfer, so the test drops the files of a
    // saliency folder, fetched from the server, as a synthetic drop event.
    await page.evaluate(async () => {
      const names = [
        "manifest.json",
        "ads.npy",
        "occludedAccuracy.npy",
        "classAds.npy",
        "classCleanAccuracy.npy",
      ];
      names.push(
        "classImageCount.npy",
        "sampleImages.npy",
        "sampleMaps.npy",
        "sampleCleanMargin.npy",
      );
      const transfer = new DataTransfer();
      for (const name of names) {
        const bytes = await (
          await fetch(`runs/second/saliency/${name}`)
        ).arrayBuffer();
        transfer.items.add(new File([bytes], name));
      }
      window.dispatchEvent(
        new DragEvent("drop", {
          dataTransfer: transfer,
          bubbles: true,
          cancelable: true,
        }),
      );
    });
    // "second" has the doubled map; dropped alone, its model folder is missing.
    await expect
      .poll(() => pane(page).locator(".run-title").textContent())
      .toBe("the dropped files (1)");
    await expectCell(
      pane(page).getByTestId("dataset-map"),
      0,
      3,
      divergingColor(20, 40),
    );
    await expect
      .poll(() => pane(page).getByTestId("model-problem").textContent())
      .toContain("model.json not found");
    await page.close();
  });

  it("opens the embedded runs from file://", async () => {
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(pathToFileURL(fileIndexHtml).href);
    await expectCell(pane(page).getByTestId("dataset-map"), 0, 0, RED_END);
    await expect
      .poll(() => pane(page).getByTestId("loss-curve").count())
      .toBe(2);

    await page.goto(`${pathToFileURL(fileIndexHtml).href}?run=runs/second`);
    await expectCell(
      pane(page).getByTestId("dataset-map"),
      0,
      3,
      divergingColor(20, 40),
    );
    await page.close();
  });

  it("raised no page errors", () => {
    expect(pageErrors).toEqual([]);
  });
});
