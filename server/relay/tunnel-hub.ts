// The relay's end of the environment tunnels (SPEC §11): a WebSocket per environment, authenticated
// by a single-use proof signed with the environment key, carrying one HTTP/2 connection in which the
// relay is the client. One tunnel per environment: a newer proven tunnel replaces the old one.
import type { IncomingMessage } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { DomainError } from '../common/errors';
import { securityLogOf } from '../common/security-log';
import { LinkProofError, verifyTunnelProof } from '../mint/link-proof';
import {
  coalesceWrites,
  keepAlive,
  REPLACED_DRAIN_MS,
  TUNNEL_AUTH_SCHEME,
  TUNNEL_MAX_MESSAGE_BYTES,
  TUNNEL_SUBPROTOCOL,
  type LivenessOptions,
} from '../tunnel/tunnel-protocol';
import type { RelayDeps } from './deps';

const PROOF_MARKER_SKEW_MS = 60_000;
const MAX_PROOF_LENGTH = 4096;

export interface TunnelHubOptions extends LivenessOptions {
  /** How long a replaced or draining tunnel may finish its open streams (default 30 s). */
  drainMs?: number;
  /** Told of every stream opened to an environment (metrics). */
  onStream?: () => void;
  /**
   * How long a routed request waits for the environment to start answering (default
   * ROUTED_ANSWER_TIMEOUT_MS); then it is answered 504 `endpoint_timed_out` instead of hanging.
   */
  answerTimeoutMs?: number;
}

/** No routed answer (client API, device page) takes long to start: event streams send their head at once. */
export const ROUTED_ANSWER_TIMEOUT_MS = 30_000;

interface RelayTunnel {
  environmentId: string;
  session: ClientHttp2Session;
  ws: WebSocket;
  openedAt: number;
  lastAnsweredAt: () => number;
  stopLiveness: () => void;
  /** Told the location store it is gone (once). */
  released?: boolean;
}

/** Where the hub reports the tunnels it holds (SPEC §12 locations); absent on a single instance. */
export interface TunnelHubHooks {
  opened(environmentId: string): void;
  closed(environmentId: string): void;
}

export interface TunnelInfo {
  environmentId: string;
  openedAt: number;
  lastPingAnsweredAt: number;
}

export const offline = () =>
  new DomainError('unavailable', 'environment_offline', 'The environment is offline. It will be reachable again when it reconnects to the relay.');

function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ error: status === 401 ? 'unauthorized' : 'bad_request', reason, message });
  const statusText = status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : 'Bad Request';
  // RFC 9110 §15.5.2: a 401 names the scheme that would work.
  const challenge = status === 401 ? `www-authenticate: ${TUNNEL_AUTH_SCHEME} error="invalid_token"\r\n` : '';
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\n${challenge}connection: close\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function createTunnelHub(deps: RelayDeps, opts: TunnelHubOptions = {}) {
  let hooks: TunnelHubHooks | null = null;
  const tunnels = new Map<string, RelayTunnel>();
  const draining = new Set<RelayTunnel>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: TUNNEL_MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(TUNNEL_SUBPROTOCOL) ? TUNNEL_SUBPROTOCOL : false),
  });
  let accepting = true;

  /** Lets a tunnel finish what it carries, then closes it; it takes no new streams meanwhile. */
  /** The last local tunnel of an environment is gone (replaced ones are not): its location goes too. */
  function released(tunnel: RelayTunnel): void {
    if (tunnel.released || tunnels.has(tunnel.environmentId)) return;
    tunnel.released = true;
    hooks?.closed(tunnel.environmentId);
  }

  function retire(tunnel: RelayTunnel, drainMs = opts.drainMs ?? REPLACED_DRAIN_MS): void {
    if (tunnels.get(tunnel.environmentId) === tunnel) tunnels.delete(tunnel.environmentId);
    released(tunnel);
    if (draining.has(tunnel) || tunnel.session.destroyed) return;
    draining.add(tunnel);
    tunnel.stopLiveness();
    const timer = setTimeout(() => drop(tunnel), drainMs);
    timer.unref();
    tunnel.session.once('close', () => {
      clearTimeout(timer);
      drop(tunnel);
    });
    try {
      tunnel.session.goaway(http2.constants.NGHTTP2_NO_ERROR);
    } catch {
      // already closing
    }
    // close() waits for open streams, then ends the HTTP/2 connection and with it the WebSocket.
    tunnel.session.close(() => drop(tunnel));
  }

  function drop(tunnel: RelayTunnel): void {
    draining.delete(tunnel);
    tunnel.stopLiveness();
    if (tunnels.get(tunnel.environmentId) === tunnel) tunnels.delete(tunnel.environmentId);
    released(tunnel);
    if (!tunnel.session.destroyed) tunnel.session.destroy();
    tunnel.ws.terminate();
  }

  async function authenticate(req: IncomingMessage): Promise<{ environmentId: string }> {
    const auth = req.headers.authorization ?? '';
    const prefix = `${TUNNEL_AUTH_SCHEME} `;
    if (!auth.startsWith(prefix) || auth.length > prefix.length + MAX_PROOF_LENGTH) throw new LinkProofError('send Authorization: Gatehouse-Tunnel <tunnel proof>');
    const proof = await verifyTunnelProof(auth.slice(prefix.length), {
      relayIssuer: deps.relayIssuer,
      now: deps.clock.now(),
      keyOf: async (environmentId) => (await deps.store.getLink(environmentId))?.environmentPublicKey ?? null,
    });
    if (!(await deps.store.consumeMarker('tunnel', proof.jti, proof.exp * 1000 + PROOF_MARKER_SKEW_MS))) throw new LinkProofError('the tunnel proof was already used');
    return { environmentId: proof.environmentId };
  }

  function open(environmentId: string, ws: WebSocket, duplex: Duplex): void {
    const session = http2.connect(`http://${environmentId}.tunnel.invalid`, {
      createConnection: () => duplex as never,
      // A tunnel carries one environment's clients; its streams are bounded by the environment.
      maxSessionMemory: 32,
    });
    const tunnel: RelayTunnel = { environmentId, session, ws, openedAt: Date.now(), lastAnsweredAt: () => Date.now(), stopLiveness: () => undefined };
    const liveness = keepAlive(session, opts, () => {
      securityLogOf(deps).record({ kind: 'tunnel_refused', where: 'relay tunnel', environmentId, reason: 'no PING answered in time: the tunnel is dead' });
      drop(tunnel);
    });
    tunnel.lastAnsweredAt = liveness.lastAnsweredAt;
    tunnel.stopLiveness = liveness.stop;
    session.on('error', () => drop(tunnel));
    session.on('close', () => drop(tunnel));
    ws.on('close', () => drop(tunnel));
    ws.on('error', () => drop(tunnel));
    duplex.on('error', () => drop(tunnel));
    const previous = tunnels.get(environmentId);
    tunnels.set(environmentId, tunnel);
    if (previous) {
      previous.released = true; // the location stays: it is this instance's again
      retire(previous);
    }
    hooks?.opened(environmentId);
    securityLogOf(deps).record({ kind: 'tunnel_opened', where: previous ? 'relay tunnel (replaced the previous one)' : 'relay tunnel', environmentId });
  }

  return {
    /** How long a routed request may wait for the environment's answer to begin. */
    answerTimeoutMs: opts.answerTimeoutMs ?? ROUTED_ANSWER_TIMEOUT_MS,

    /** Handles `GET /v1/tunnel` upgrades; answers 401 before upgrading when the proof fails. */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      socket.on('error', () => socket.destroy());
      if (!accepting) return refuseUpgrade(socket, 503, 'unavailable', 'This relay instance is shutting down; connect again.');
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') return refuseUpgrade(socket, 400, 'invalid_request', 'The tunnel is a WebSocket.');
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.includes(TUNNEL_SUBPROTOCOL)) return refuseUpgrade(socket, 400, 'invalid_request', `The tunnel speaks the subprotocol ${TUNNEL_SUBPROTOCOL}.`);
      authenticate(req).then(
        ({ environmentId }) => {
          if (socket.destroyed) return;
          wss.handleUpgrade(req, socket, head, (ws) => {
            // The stream must exist before the first message: ws drops messages nobody listens to.
            const duplex = coalesceWrites(createWebSocketStream(ws));
            open(environmentId, ws, duplex);
          });
        },
        (error: unknown) => {
          const message = error instanceof LinkProofError ? error.message : 'the tunnel could not be authenticated';
          securityLogOf(deps).record({ kind: 'tunnel_refused', where: 'relay tunnel', reason: message });
          if (error instanceof LinkProofError) refuseUpgrade(socket, 401, 'invalid_token', `The tunnel proof is not valid: ${message}.`);
          else refuseUpgrade(socket, 503, 'unavailable', 'The relay could not check the tunnel proof right now; try again.');
        },
      );
    },

    /** Reports opened and closed tunnels from now on. */
    setHooks(h: TunnelHubHooks | null): void {
      hooks = h;
    },

    /** Another instance holds this environment's tunnel now: ours finishes its streams and goes. */
    retireLocal(environmentId: string): void {
      const tunnel = tunnels.get(environmentId);
      if (tunnel) retire(tunnel);
    },

    has(environmentId: string): boolean {
      return tunnels.has(environmentId);
    },

    info(environmentId: string): TunnelInfo | null {
      const t = tunnels.get(environmentId);
      if (!t) return null;
      return { environmentId, openedAt: t.openedAt, lastPingAnsweredAt: t.lastAnsweredAt() };
    },

    /** Opens one stream to the environment; throws `environment_offline` when it has no tunnel. */
    request(environmentId: string, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
      const tunnel = tunnels.get(environmentId);
      if (!tunnel || tunnel.session.destroyed || tunnel.session.closed) throw offline();
      try {
        const stream = tunnel.session.request(headers, { endStream });
        opts.onStream?.();
        return stream;
      } catch {
        drop(tunnel);
        throw offline();
      }
    },

    /** An unlinked environment loses its tunnel at once. */
    disconnect(environmentId: string): void {
      const tunnel = tunnels.get(environmentId);
      if (tunnel) drop(tunnel);
    },

    /** False once draining or closed: the instance is not ready for new tunnels (`/readyz`). */
    accepting(): boolean {
      return accepting;
    },

    count(): number {
      return tunnels.size;
    },

    /** Stops taking tunnels; GOAWAY to every tunnel so environments move, open streams finish (bounded). */
    async drain(drainMs = opts.drainMs ?? REPLACED_DRAIN_MS): Promise<void> {
      accepting = false;
      const all = [...tunnels.values()];
      for (const t of all) retire(t, drainMs);
      await Promise.all([...draining].map((t) => new Promise<void>((r) => (t.session.destroyed ? r() : t.session.once('close', () => r())))));
    },

    /** Cuts every tunnel's socket first, so no GOAWAY goes out: what a killed process leaves (tests). */
    abandon(): void {
      hooks = null;
      for (const t of [...tunnels.values(), ...draining]) t.ws.terminate();
      this.close();
    },

    close(): void {
      accepting = false;
      for (const t of [...tunnels.values(), ...draining]) drop(t);
      wss.close();
    },
  };
}

export type TunnelHub = ReturnType<typeof createTunnelHub>;
