import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export type RouteHandler = (
  request: IncomingMessage,
  response: ServerResponse,
) => void;

/** A local HTTP server on 127.0.0.1 that plays one or more dataset mirrors. */
export interface MirrorServer {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  origin: string;
  /** Paths of every request received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Starts a server on 127.0.0.1 with an OS-chosen port. A request whose path is not in `routes`
 * gets a 404.
 */
export async function startMirrorServer(
  routes: Readonly<Record<string, RouteHandler>>,
): Promise<MirrorServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = request.url ?? "/";
    requests.push(path);
    const handler = routes[path];
    if (handler === undefined) {
      response.writeHead(404, { "Content-Type": "text/plain" });
      response.end("not found");
      return;
    }
    handler(request, response);
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Hanging handlers never end their responses, so their connections are cut here.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A handler that sends `body` with a Content-Length, as a static file server does. */
export function serveBytes(
  body: Uint8Array,
  headers: Readonly<Record<string, string>> = {},
): RouteHandler {
  return (_request, response) => {
    response.writeHead(200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(body.byteLength),
      ...headers,
    });
    response.end(body);
  };
}

/** A handler that never sends a response. */
export function hang(): RouteHandler {
  return () => {};
}

/** A handler that sends the headers and half of `body`, then stalls without closing. */
export function stallHalfway(body: Uint8Array): RouteHandler {
  return (_request, response) => {
    response.writeHead(200, { "Content-Length": String(body.byteLength) });
    response.write(body.subarray(0, body.byteLength >> 1));
  };
}

/** A handler that sends the headers and half of `body`, then destroys the connection. */
export function dropHalfway(body: Uint8Array): RouteHandler {
  return (_request, response) => {
    response.writeHead(200, { "Content-Length": String(body.byteLength) });
    response.write(body.subarray(0, body.byteLength >> 1), () => {
      response.socket?.destroy();
    });
  };
}

/**
 * Returns `http://127.0.0.1:<port>` for a port that had a listener a moment ago and now has
 * none, so connections to it are refused. fetch rejects low ports such as 1 as "bad port", so
 * they cannot stand in for a refused connection.
 */
export async function refusedOrigin(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
