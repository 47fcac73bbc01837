// The environment's end of its tunnel (SPEC §11): it dials out to its relay (nothing needs to dial
// in, so it works behind NAT), proves its key, and serves the relay's HTTP/2 streams with the same
// request handler as its own port. It reconnects by itself with exponential backoff and full jitter.
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { WebSocket, createWebSocketStream } from 'ws';
import { signTunnelProof } from '../../mint/link-proof';
import { describeTunnel, type TunnelStatus } from '../../../shared/contracts';
import type { SigningKey } from '../../common/keys';
import {
  coalesceWrites,
  keepAlive,
  TUNNEL_AUTH_SCHEME,
  TUNNEL_MAX_MESSAGE_BYTES,
  TUNNEL_PATH,
  TUNNEL_SUBPROTOCOL,
  type LivenessOptions,
} from '../../tunnel/tunnel-protocol';
import type { EnvDeps } from '../deps';
import { readRelayLink } from '../link/link.service';
import { dropConnectionHeaders, endStreamWithLastData, markTunnelRequest, refuseOnTunnel } from './tunnel-requests';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
const UNLINKED_RECHECK_MS = 2_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export type { TunnelStatus };

export interface TunnelAgentOptions extends LivenessOptions {
  deps: EnvDeps;
  environmentId: string;
  signingKey: SigningKey;
  /** The environment's request handler (the one its own HTTP port serves). */
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  /** Sees every tunnel stream first, refused ones included (the request log). */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  log?: (line: string) => void;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Random in [0, 1); tests pin it. */
  random?: () => number;
}

/** Full jitter (AWS architecture blog): a uniformly random wait up to the exponential step. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  return Math.floor(random() * Math.min(max, base * 2 ** attempt));
}


const wsUrlOf = (relayUrl: string) => `${relayUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}${TUNNEL_PATH}`;

export function startTunnelAgent(opts: TunnelAgentOptions) {
  const log = opts.log ?? ((line: string) => console.log(line));
  const random = opts.random ?? Math.random;
  const base = opts.backoffBaseMs ?? BACKOFF_BASE_MS;
  const max = opts.backoffMaxMs ?? BACKOFF_MAX_MS;
  let status: TunnelStatus = { state: 'unlinked' };
  let attempt = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let current: { ws: WebSocket; session: ServerHttp2Session | null } | null = null;
  const listeners = new Set<(s: TunnelStatus) => void>();
  let lastAnswered = () => 0;
  const retiring = new Set<{ ws: WebSocket; session: ServerHttp2Session | null }>();

  const server = http2.createServer({ settings: { maxConcurrentStreams: 2000 }, maxSessionMemory: 64 }, (req: Http2ServerRequest, res: Http2ServerResponse) => {
    markTunnelRequest(req);
    opts.onRequest?.(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    dropConnectionHeaders(res);
    endStreamWithLastData(res);
    if (refuseOnTunnel(req, res)) return;
    void opts.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
  server.on('sessionError', () => undefined);

  function setStatus(next: TunnelStatus) {
    status = next;
    for (const l of listeners) l(next);
  }

  function schedule(ms: number) {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, ms);
    timer.unref();
  }

  function retryLater(relayUrl: string, lastError: string) {
    if (stopped) return;
    const delay = backoffDelay(attempt, base, max, random);
    attempt += 1;
    setStatus({ state: 'offline', relayUrl, retryInMs: delay, retryAt: new Date(Date.now() + delay).toISOString(), lastError });
    log(describeTunnel(status));
    schedule(delay);
  }

  async function connect(): Promise<void> {
    if (stopped || current) return;
    let link;
    try {
      link = readRelayLink(opts.deps);
    } catch {
      link = null;
    }
    if (!link) {
      if (status.state !== 'unlinked') setStatus({ state: 'unlinked' });
      return schedule(UNLINKED_RECHECK_MS);
    }
    const relayUrl = link.relayUrl;
    setStatus({ state: 'connecting', relayUrl, attempt });
    const proof = await signTunnelProof(opts.signingKey.privateKey, { environmentId: opts.environmentId, relayIssuer: link.relayIssuer, now: opts.deps.clock.now() });
    if (stopped) return;
    const ws = new WebSocket(wsUrlOf(relayUrl), [TUNNEL_SUBPROTOCOL], {
      headers: { authorization: `${TUNNEL_AUTH_SCHEME} ${proof}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      perMessageDeflate: false,
      maxPayload: TUNNEL_MAX_MESSAGE_BYTES,
      followRedirects: false,
    });
    // Made before the first message arrives: ws drops messages that nobody listens to.
    const duplex = coalesceWrites(createWebSocketStream(ws));
    const attemptState = { ws, session: null as ServerHttp2Session | null };
    current = attemptState;
    let lastError = 'the connection closed';
    let settled = false;
    // Asked to move (GOAWAY): a new tunnel is dialled at once while this one finishes its streams.
    let moved = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      retiring.delete(attemptState);
      if (current === attemptState) current = null;
      attemptState.session?.destroy();
      duplex.destroy();
      if (!stopped && !moved) retryLater(relayUrl, lastError);
    };
    duplex.on('error', (error) => {
      lastError = error.message;
    });
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 8 && chunks.push(c));
      res.on('end', () => {
        let message = `HTTP ${res.statusCode}`;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: unknown };
          if (typeof body.message === 'string') message = `${message}: ${body.message.slice(0, 200)}`;
        } catch {
          // not JSON: the status says enough
        }
        lastError = `the relay refused the tunnel (${message})`;
        ws.terminate();
        finish();
      });
      res.on('error', finish);
    });
    ws.on('error', (error) => {
      lastError = error.message || 'connection failed';
      finish();
    });
    ws.on('close', finish);
    ws.on('open', () => {
      server.once('session', (session: ServerHttp2Session) => {
        attemptState.session = session;
        const since = new Date().toISOString();
        const liveness = keepAlive(session, opts, () => {
          lastError = 'no PING answered in time: the tunnel was dead';
          ws.terminate();
        });
        session.on('goaway', () => {
          lastError = 'the relay asked this tunnel to move (replaced or shutting down)';
          if (moved || stopped || current !== attemptState) return;
          moved = true;
          current = null;
          retiring.add(attemptState);
          log(`tunnel: ${lastError}; connecting again while open streams finish`);
          void connect();
        });
        session.on('close', () => {
          liveness.stop();
          ws.close();
        });
        session.on('ping', () => undefined);
        attempt = 0;
        lastAnswered = liveness.lastAnsweredAt;
        setStatus({ state: 'connected', relayUrl, since, lastPingAnsweredAt: new Date(liveness.lastAnsweredAt()).toISOString() });
        log(`tunnel: connected to ${relayUrl} since ${since}`);
      });
      server.emit('connection', duplex);
    });
  }

  void connect();

  return {
    /** Reflects real traffic: while connected, the time of the last PING the relay answered. */
    status(): TunnelStatus {
      return status.state === 'connected' ? { ...status, lastPingAnsweredAt: new Date(lastAnswered()).toISOString() } : status;
    },
    onStatus(listener: (s: TunnelStatus) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Try now (after a new link), instead of at the next scheduled attempt. */
    poke(): void {
      if (stopped || current) return;
      attempt = 0;
      if (timer) clearTimeout(timer);
      timer = null;
      void connect();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = current;
      current = null;
      for (const t of [...(c ? [c] : []), ...retiring]) {
        t.session?.destroy();
        t.ws.terminate();
      }
      retiring.clear();
      setStatus({ state: 'stopped' });
    },
  };
}

export type TunnelAgent = ReturnType<typeof startTunnelAgent>;
