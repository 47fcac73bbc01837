// The P5 baseline: the least a server can do to fan one event out over SSE — plain node:http,
// one `data:` line written to every open response, no framework, no database.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RawSseServer {
  port: number;
  subscribers(): number;
  close(): Promise<void>;
}

/** GET /events subscribes; POST /fire {payload} writes `data: <payload>` to every subscriber. */
export async function startRawSseServer(): Promise<RawSseServer> {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write('data: {"type":"hello"}\n\n');
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    if (req.method === 'POST' && req.url === '/fire') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const line = `data: ${JSON.stringify(JSON.parse(Buffer.concat(chunks).toString('utf8')))}\n\n`;
        for (const sub of open) sub.write(line);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    subscribers: () => open.size,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
