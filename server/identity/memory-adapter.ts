// The embedded account issuer's store for oidc-provider: in memory (the issuer is one process and
// its sessions may end with it), but unlike oidc-provider's own quick-start adapter it never forgets
// an entry before it expires. That adapter is one LRU of 1,000 entries shared by every model, so
// after a few thousand requests a replay-detection entry (a DPoP proof's or a client assertion's
// jti) could be evicted and the same proof accepted again; it also prints a warning on every start.
//
// Expired entries are dropped when read and by a sweep once a minute. The store is bounded: past
// `maxEntries` live entries a write is refused (the request fails) rather than evicting a live one.
export const ISSUER_STORE_MAX_ENTRIES = 200_000;
const SWEEP_EVERY_MS = 60_000;

type Payload = Record<string, unknown>;
interface Entry {
  value: unknown;
  /** Epoch ms; Infinity when oidc-provider gave no lifetime. */
  expiresAt: number;
}

/** Models whose entries belong to a grant, so `revokeByGrantId` ends them together (as oidc-provider expects). */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export interface IssuerStore {
  /** The adapter class to pass as oidc-provider's `adapter` option (one instance per model). */
  Adapter: new (model: string) => unknown;
  /** Live entries of one model (e.g. 'ReplayDetection'), or of all models. */
  entries(model?: string): number;
  /** Stops the sweep timer. */
  close(): void;
}

export function createIssuerStore(opts: { now?: () => number; maxEntries?: number } = {}): IssuerStore {
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? ISSUER_STORE_MAX_ENTRIES;
  const storage = new Map<string, Entry>();

  const read = (key: string): unknown => {
    const entry = storage.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      storage.delete(key);
      return undefined;
    }
    return entry.value;
  };
  const sweep = () => {
    const at = now();
    for (const [key, entry] of storage) if (entry.expiresAt <= at) storage.delete(key);
  };
  const expiry = (expiresInSeconds: number | undefined) => (typeof expiresInSeconds === 'number' && Number.isFinite(expiresInSeconds) ? now() + expiresInSeconds * 1000 : Infinity);
  const write = (key: string, value: unknown, expiresAt: number) => {
    if (!storage.has(key) && storage.size >= maxEntries) {
      sweep();
      if (storage.size >= maxEntries) throw new Error(`the account issuer's store is full (${maxEntries} live entries); try again later`);
    }
    storage.set(key, { value, expiresAt });
  };
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();

  class IssuerAdapter {
    constructor(private readonly model: string) {}

    private key(id: string) {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const key = this.key(id);
      const expiresAt = expiry(expiresIn);
      if (this.model === 'Session' && typeof payload.uid === 'string') write(`sessionUid:${payload.uid}`, id, expiresAt);
      if (GRANTABLE.has(this.model) && typeof payload.grantId === 'string') {
        // The grant's list of members lives as long as its longest-lived member.
        const grantKey = `grant:${payload.grantId}`;
        const members = read(grantKey) as string[] | undefined;
        write(grantKey, [...(members ?? []), key], Math.max(expiresAt, storage.get(grantKey)?.expiresAt ?? 0));
      }
      if (typeof payload.userCode === 'string') write(`userCode:${payload.userCode}`, id, expiresAt);
      write(key, payload, expiresAt);
    }

    async find(id: string): Promise<Payload | undefined> {
      return read(this.key(id)) as Payload | undefined;
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      const id = read(`sessionUid:${uid}`);
      return typeof id === 'string' ? this.find(id) : undefined;
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const id = read(`userCode:${userCode}`);
      return typeof id === 'string' ? this.find(id) : undefined;
    }

    async consume(id: string): Promise<void> {
      const payload = read(this.key(id)) as Payload | undefined;
      if (payload) payload.consumed = Math.floor(now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      storage.delete(this.key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const grantKey = `grant:${grantId}`;
      for (const key of (read(grantKey) as string[] | undefined) ?? []) storage.delete(key);
      storage.delete(grantKey);
    }
  }

  return {
    Adapter: IssuerAdapter,
    entries(model) {
      sweep();
      if (!model) return storage.size;
      let n = 0;
      for (const key of storage.keys()) if (key.startsWith(`${model}:`)) n++;
      return n;
    },
    close: () => clearInterval(timer),
  };
}
