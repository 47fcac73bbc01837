// Key continuity on the /device page (SPEC §13): a connected, approved device moves its approval to a
// new key (`client.rotateKey`, a proof signed by the new key) and stays approved; the old key's
// sessions end. The new key waits beside the old one in IndexedDB until the environment moved the
// approval, then replaces it; the page reloads with it and connects again at once. Only a device
// with an approval of its own (client-approval mode) is offered it.
import { useEffect, useRef, useState } from 'react';
import type { EnvRouter } from '../../../server/env/trpc/app-router';
import { createEnvClient, type EnvSession } from '../../../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../../shared/dpop';
import { createKeyRotationProof } from '../../../shared/key-rotation';
import { verificationCode } from '../../../shared/verification-code';
import { commitNextKey, dropNextKey, stageNextKey } from './key-store';

const NOTICE = 'gatehouse-key-rotation';

type RotationNotice = { ok: true; oldCode: string; newCode: string; endedSessions: number } | { ok: false; message: string };

/** Moves this device's approval to a fresh key; the stored key changes only once the environment agreed. */
export async function rotateDeviceKey(session: EnvSession, oldKey: DpopSigner, environmentId: string) {
  const keyPair = await generateDpopKeyPair(false);
  const newKey = await createDpopSigner(keyPair);
  await stageNextKey(keyPair);
  let result;
  try {
    const proof = await createKeyRotationProof(newKey, { environmentId, oldThumbprint: oldKey.thumbprint });
    result = await createEnvClient<EnvRouter>(session, oldKey).client.rotateKey.mutate({ newKeyProof: proof });
  } catch (error) {
    await dropNextKey().catch(() => undefined);
    throw error;
  }
  await commitNextKey();
  return result;
}

function refusal(error: unknown): string {
  const data = (error as { data?: { code?: string } }).data;
  if (data?.code === 'NOT_FOUND') return 'this device has no approval of its own to move (only a device the owner approved can rotate its key)';
  return error instanceof Error ? error.message : String(error);
}

let pendingNotice: RotationNotice | null | undefined;

/** What the last rotation did, read once per page load (it survives the reload that follows it). */
function takeNotice(): RotationNotice | null {
  if (pendingNotice === undefined) {
    try {
      const raw = sessionStorage.getItem(NOTICE);
      sessionStorage.removeItem(NOTICE);
      pendingNotice = raw ? (JSON.parse(raw) as RotationNotice) : null;
    } catch {
      pendingNotice = null;
    }
  }
  return pendingNotice;
}

/**
 * "Rotate key" next to Disconnect, only where it applies: the environment is asked whether this device
 * has an approval of its own to move (client-approval mode, approved); in account mode it has none.
 * `onStart` stops watching the old session, which is about to end on purpose.
 */
export function RotateKeyButton({ session, signer, environmentId, onStart }: { session: EnvSession; signer: DpopSigner; environmentId: string; onStart(): void }) {
  const [busy, setBusy] = useState(false);
  const [applies, setApplies] = useState(false);
  useEffect(() => {
    let live = true;
    createEnvClient<EnvRouter>(session, signer)
      .client.canRotateKey.query()
      .then(
        (answer) => live && setApplies(answer.canRotateKey),
        () => live && setApplies(false),
      );
    return () => {
      live = false;
    };
  }, [session, signer]);
  const rotate = async () => {
    if (busy) return;
    setBusy(true);
    onStart();
    let notice: RotationNotice;
    try {
      const result = await rotateDeviceKey(session, signer, environmentId);
      notice = { ok: true, oldCode: await verificationCode(result.oldThumbprint), newCode: await verificationCode(result.newThumbprint), endedSessions: result.endedSessions };
    } catch (error) {
      notice = { ok: false, message: refusal(error) };
    }
    sessionStorage.setItem(NOTICE, JSON.stringify(notice));
    location.reload();
  };
  if (!applies) return null;
  return (
    <button type="button" className="button" aria-busy={busy || undefined} disabled={busy} onClick={() => void rotate()}>
      {busy ? 'Rotating key…' : 'Rotate key'}
    </button>
  );
}

/** After the reload: says what happened and, when the key moved, connects again with the new key. */
export function RotationNotice({ ready, connect }: { ready: boolean; connect(): void }) {
  const [notice] = useState(takeNotice);
  const resumed = useRef(false);
  useEffect(() => {
    if (notice?.ok && ready && !resumed.current) {
      resumed.current = true;
      connect();
    }
  }, [notice, ready, connect]);
  if (!notice) return null;
  return (
    <p role="status" className="banner">
      {notice.ok
        ? `Moved this device’s approval to a new key: its code is now ${notice.newCode} (was ${notice.oldCode}). The old key’s sessions ended (${notice.endedSessions}).`
        : `Could not rotate the key: ${notice.message}. The old key is unchanged.`}
    </p>
  );
}
