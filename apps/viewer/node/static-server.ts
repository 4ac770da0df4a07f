/** A small static file server for a built viewer, for `serveViewer` and the tests. */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".npy": "application/octet-stream",
  ".bin": "application/octet-stream",
};

export interface StaticServer {
  /** The root URL, ending in "/". */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the files under `root` on `host`:`port` (port 0 picks a free port). Only GET and HEAD
 * requests are served. A folder serves its index.html, and paths that leave `root` get 404.
 */
export async function startStaticServer(
  root: string,
  port: number,
  host: string,
): Promise<StaticServer> {
  const rootDir = path.resolve(root);
  const server = createServer((request, response) => {
    serveFile(rootDir, request, response).catch((error: unknown) => {
      if (!response.headersSent)
        sendText(response, 500, `internal error: ${String(error)}`);
      else response.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const hostInUrl =
    address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostInUrl}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serveFile(
  rootDir: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    sendText(response, 405, "method not allowed");
    return;
  }

  let urlPath: string;
  try {
    urlPath = decodeURIComponent(
      new URL(request.url ?? "/", "http://localhost").pathname,
    );
  } catch {
    sendText(response, 400, "invalid URL encoding");
    return;
  }
  let file = path.resolve(rootDir, `.${path.posix.normalize(urlPath)}`);
  const relative = path.relative(rootDir, file);
  if (
    urlPath.includes("\0") ||
    relative.startsWith("..") ||
    path.isAbsolute(relative)
  ) {
    sendText(response, 404, "not found");
    return;
  }

  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    file = path.join(file, "index.html");
    info = await stat(file).catch(() => null);
  }
  if (!info?.isFile()) {
    sendText(response, 404, "not found");
    return;
  }

  response.writeHead(200, {
    "Content-Type":
      CONTENT_TYPES[path.extname(file).toLowerCase()] ??
      "application/octet-stream",
    "Content-Length": info.size,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  if (request.method === "HEAD") {
    response.end();
    return;
  }
  createReadStream(file).pipe(response);
}

function sendText(
  response: ServerResponse,
  status: number,
  text: string,
): void {
  response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  response.end(text);
}
