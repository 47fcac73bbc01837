// A man in the middle between relay and environment: forwards everything, and lets a test rewrite
// mint answers, replay old ones, or stall.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type TamperResult = Record<string, unknown> | 'stall' | { status: number };
export type MintTamper = (body: Record<string, unknown>, history: Array<Record<string, unknown>>) => TamperResult | Promise<TamperResult>;

export async function startMitmProxy() {
  let target = '';
  let tamper: MintTamper | null = null;
  const history: Array<Record<string, unknown>> = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>;
    const upstream = await fetch(`${target}${req.url}`, { method: req.method!, headers, ...(chunks.length && { body: Buffer.concat(chunks) }) });
    const text = await upstream.text();
    if (req.url === '/api/connect/mint-credential' && upstream.ok) {
      const body = JSON.parse(text) as Record<string, unknown>;
      const change = (await tamper?.(structuredClone(body), history)) ?? body;
      history.push(body);
      if (change === 'stall') return; // never answers
      if ('status' in change && typeof change.status === 'number') {
        res.writeHead(change.status, { 'content-type': 'application/json' });
        return void res.end('{}');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(change));
    }
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
    res.end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setTarget: (url: string) => void (target = url),
    setTamper: (fn: MintTamper | null) => void (tamper = fn),
    history,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
