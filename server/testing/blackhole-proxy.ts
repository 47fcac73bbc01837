// A TCP proxy on 127.0.0.1 that can black-hole the connections it carries: it stops forwarding
// in both directions but keeps every socket open, as a dead NAT mapping or a lost route does.
// Connections made after that pass again, so a peer that reconnects gets through.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** `host`: where the proxy listens (default loopback; a test network's address for namespace tests). */
export async function startBlackholeProxy(targetPort: number, host = '127.0.0.1') {
  const open = new Set<{ client: Socket; upstream: Socket; holed: boolean }>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, holed: false };
    open.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    // A black-holed connection tells neither side that the other went away: each must find out alone.
    const closed = (side: Socket) => () => {
      if (!pair.holed) {
        open.delete(pair);
        client.destroy();
        upstream.destroy();
      } else side.destroy();
    };
    client.on('error', closed(client)).on('close', closed(client));
    upstream.on('error', closed(upstream)).on('close', closed(upstream));
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    /** Carried connections that still move bytes. */
    liveConnections: () => [...open].filter((p) => !p.holed && !p.client.destroyed).length,
    /** Every carried connection stops moving bytes; nothing is closed. */
    blackhole(): void {
      for (const pair of open) {
        const { client, upstream } = pair;
        pair.holed = true;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close(): Promise<void> {
      for (const { client, upstream } of open) {
        client.destroy();
        upstream.destroy();
      }
      return new Promise((r) => server.close(() => r()));
    },
  };
}
