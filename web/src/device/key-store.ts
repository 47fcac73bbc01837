// This browser's client identity: a non-extractable P-256 key pair kept in IndexedDB (the browser
// can store and use it, but no script can read the private key out), reused across reloads.
// IndexedDB belongs to the origin, so each environment's page origin at a relay keeps its own key.
import type { EnvSession } from '../../../shared/client/connect';
import { generateDpopKeyPair } from '../../../shared/dpop';

const DB_NAME = 'gatehouse-device';
const STORE = 'identity';
const KEY = 'dpop';

export interface DeviceIdentity {
  keyPair: CryptoKeyPair;
  deviceId: string;
  createdAt: string;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb(): Promise<IDBDatabase> {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

function isIdentity(value: unknown): value is DeviceIdentity {
  const v = value as Partial<DeviceIdentity> | undefined;
  return !!v?.keyPair?.privateKey && !!v.keyPair.publicKey && typeof v.deviceId === 'string';
}

async function loadOrCreate(): Promise<DeviceIdentity> {
  if (!globalThis.crypto?.subtle || typeof indexedDB === 'undefined') {
    throw new Error('This browser cannot keep a device key here: open this page over https or on localhost, in a browser with WebCrypto and IndexedDB.');
  }
  const db = await openDb();
  try {
    const stored: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(KEY));
    if (isIdentity(stored)) return stored;
    const identity: DeviceIdentity = { keyPair: await generateDpopKeyPair(false), deviceId: crypto.randomUUID(), createdAt: new Date().toISOString() };
    // `add`, not `put`: if another tab stored a key first, keep that one.
    const tx = db.transaction(STORE, 'readwrite');
    try {
      await request(tx.objectStore(STORE).add(identity, KEY));
      return identity;
    } catch {
      const winner: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(KEY));
      if (isIdentity(winner)) return winner;
      throw new Error('Could not store the device key in this browser.');
    }
  } finally {
    db.close();
  }
}

let identity: Promise<DeviceIdentity> | null = null;

/** One identity per page load, however many components ask. */
export function deviceIdentity(): Promise<DeviceIdentity> {
  identity ??= loadOrCreate().catch((error: unknown) => {
    identity = null;
    throw error;
  });
  return identity;
}

const NEXT_KEY = 'dpop-next';

/** A new key waiting to take over, and the old key's session the rotation is (or was) sent with. */
export interface StagedKey {
  keyPair: CryptoKeyPair;
  createdAt: string;
  session: EnvSession;
}

function isStaged(value: unknown): value is StagedKey {
  const v = value as Partial<StagedKey> | undefined;
  const session = v?.session as Partial<EnvSession> | undefined;
  return !!v?.keyPair?.privateKey && !!v.keyPair.publicKey && typeof session?.endpoint === 'string' && typeof session.accessToken === 'string' && typeof session.environmentId === 'string';
}

/**
 * Key rotation (SPEC §13), step 1, before the request is sent: keeps the new key beside the current
 * one, with the old key's session, so a page closed mid-rotation can finish it on its next load
 * (the session token is bound to the old key, which stays in this store anyway).
 */
export async function stageNextKey(keyPair: CryptoKeyPair, session: EnvSession): Promise<void> {
  const db = await openDb();
  try {
    const staged: StagedKey = { keyPair, createdAt: new Date().toISOString(), session: { ...session } };
    await request(db.transaction(STORE, 'readwrite').objectStore(STORE).put(staged, NEXT_KEY));
  } finally {
    db.close();
  }
}

/** A rotation a page started and never saw the end of, or null. */
export async function stagedNextKey(): Promise<StagedKey | null> {
  if (typeof indexedDB === 'undefined') return null;
  const db = await openDb();
  try {
    const staged: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(NEXT_KEY));
    return isStaged(staged) ? staged : null;
  } finally {
    db.close();
  }
}

/**
 * Step 2, once the environment moved the approval: the staged key becomes this device's key (same
 * device ID). Nothing staged any more: another tab of this origin finished the same rotation first.
 */
export async function commitNextKey(): Promise<void> {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const [current, next] = await Promise.all([request(store.get(KEY)), request(store.get(NEXT_KEY))]);
    const staged = next as { keyPair?: CryptoKeyPair; createdAt?: string } | undefined;
    if (!isIdentity(current)) throw new Error('This browser’s device key was not found.');
    if (staged?.keyPair) {
      store.put({ keyPair: staged.keyPair, deviceId: current.deviceId, createdAt: staged.createdAt ?? new Date().toISOString() } satisfies DeviceIdentity, KEY);
      store.delete(NEXT_KEY);
    }
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('Could not store the new device key.'));
    });
  } finally {
    db.close();
  }
  identity = null;
}

/** When the environment refused the rotation: the current key stays, the staged one goes. */
export async function dropNextKey(): Promise<void> {
  const db = await openDb();
  try {
    await request(db.transaction(STORE, 'readwrite').objectStore(STORE).delete(NEXT_KEY));
  } finally {
    db.close();
  }
}
