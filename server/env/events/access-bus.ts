import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AccessEvent } from '../../../shared/contracts';

type Unrevisioned<T> = T extends unknown ? Omit<T, 'revision'> : never;
export type AccessEventInput = Unrevisioned<Exclude<AccessEvent, { type: 'snapshot' }>>;

/** A client's decision or session change, for long-poll waiters and open client streams. */
export interface ClientSignal {
  clientProofKeyThumbprint: string;
  kind: 'decided' | 'sessions-ended';
}

const HISTORY = 2000;

/**
 * The one typed event bus of an environment. Every access event gets a revision; a bounded history
 * lets a reconnecting subscriber with an id of this server's life receive exactly what it missed.
 */
export class AccessBus {
  /** Distinguishes this server's life: an event id from an earlier boot means "send a snapshot". */
  readonly bootId = randomBytes(6).toString('base64url');
  private revision = 0;
  private readonly history: AccessEvent[] = [];
  private readonly emitter = new EventEmitter();
  private readonly lastByKey = new Map<string, number>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  get currentRevision(): number {
    return this.revision;
  }

  publish(input: AccessEventInput): AccessEvent {
    const event = { ...input, revision: ++this.revision } as AccessEvent;
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('access', event);
    return event;
  }

  /**
   * Publishes unless an event with the same key went out less than `intervalMs` ago: a client
   * that keeps asking while pending cannot flood every open settings page. `force` publishes anyway
   * (a status change) and still opens the window, so the asks right after it stay quiet.
   */
  publishThrottled(key: string, input: AccessEventInput | (() => AccessEventInput), now: number, intervalMs = 1000, force = false): AccessEvent | null {
    const last = this.lastByKey.get(key);
    if (!force && last !== undefined && now - last < intervalMs) return null;
    if (this.lastByKey.size > 10_000) {
      for (const [k, at] of this.lastByKey) if (now - at >= intervalMs) this.lastByKey.delete(k);
    }
    this.lastByKey.set(key, now);
    return this.publish(typeof input === 'function' ? input() : input);
  }

  subscribe(listener: (event: AccessEvent) => void): () => void {
    this.emitter.on('access', listener);
    return () => this.emitter.off('access', listener);
  }

  listenerCount(): number {
    return this.emitter.listenerCount('access') + this.emitter.listenerCount('client');
  }

  /** Events after `revision`, or null when that revision is not in the kept history. */
  since(revision: number): AccessEvent[] | null {
    if (revision > this.revision || revision < 0) return null;
    if (revision === this.revision) return [];
    const first = this.history[0];
    if (!first || first.revision > revision + 1) return null;
    return this.history.filter((e) => e.revision > revision);
  }

  eventId(revision: number): string {
    return `${this.bootId}.${revision}`;
  }

  /** The revision named by an event id of this server's life, else null. */
  parseEventId(id: string | null | undefined): number | null {
    if (!id) return null;
    const [boot, rev, extra] = id.split('.');
    if (extra !== undefined || boot !== this.bootId || !rev || !/^\d{1,15}$/.test(rev)) return null;
    return Number(rev);
  }

  signalClient(signal: ClientSignal): void {
    this.emitter.emit('client', signal);
  }

  onClientSignal(listener: (signal: ClientSignal) => void): () => void {
    this.emitter.on('client', listener);
    return () => this.emitter.off('client', listener);
  }

  /** Owner sessions ended by a sign-out (their session keys), or `'all-cookie-sessions'`: their open streams close. */
  signalOwnerSessionsEnded(ended: string[] | 'all-cookie-sessions'): void {
    this.emitter.emit('owner', ended);
  }

  onOwnerSessionsEnded(listener: (ended: string[] | 'all-cookie-sessions') => void): () => void {
    this.emitter.on('owner', listener);
    return () => this.emitter.off('owner', listener);
  }
}
