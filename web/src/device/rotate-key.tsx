// Key continuity on the /device page (SPEC §13): a connected, approved device moves its approval to a
// new key (`client.rotateKey`, a proof signed by the new key) and stays approved; the old key's
// sessions end. The new key waits beside the old one in IndexedDB, with the old key's session, from
// before the request is sent until the environment's answer is known, then replaces it or goes; the
// page reloads with it and connects again at once. A page closed (or cut off) before the answer
// came finishes the rotation on its next load (`settleStagedRotation`). Only a device with an
// approval of its own (client-approval mode) is offered it.
import { useEffect, useRef, useState } from 'react';
import type { EnvRouter } from '../../../server/env/trpc/app-router';
import { createEnvClient, type EnvSession } from '../../../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../../../shared/dpop';
import { createKeyRotationProof } from '../../../shared/key-rotation';
import { verificationCode } from '../../../shared/verification-code';
import { commitNextKey, deviceIdentity, dropNextKey, stageNextKey, stagedNextKey } from './key-store';

const NOTICE = 'gatehouse-key-rotation';

/** `endedSessions` is null when a later page load finished the rotation and the count was not heard. */
export type RotationNotice =
  | { ok: true; oldCode: string; newCode: string; endedSessions: number | null }
  | { ok: false; message: string; /** The rotation's outcome is not known yet: the new key is kept for the next load. */ unsettled?: true };

/** The code the server answered with, or undefined when no answer came (network, page gone). */
const answerCode = (error: unknown): string | undefined => (error as { data?: { code?: string } }).data?.code;
/**
 * The environment's own "no" to this rotation (no approval to move, a bad proof, the key taken): the
 * old key is kept. Anything else (no answer, an offline environment, a refused session, which may be
 * one a rotation already ended) leaves the new key staged for the next load to settle.
 */
const isRefusal = (error: unknown): boolean => ['NOT_FOUND', 'BAD_REQUEST', 'CONFLICT', 'FORBIDDEN'].includes(answerCode(error) ?? '');

/** Sends the rotation with the old key's session; the stored key changes only by the environment's answer. */
async function sendRotation(session: EnvSession, oldKey: DpopSigner, newKey: DpopSigner) {
  const proof = await createKeyRotationProof(newKey, { environmentId: session.environmentId, oldThumbprint: oldKey.thumbprint });
  try {
    const result = await createEnvClient<EnvRouter>(session, oldKey).client.rotateKey.mutate({ newKeyProof: proof });
    await commitNextKey();
    return result;
  } catch (error) {
    if (isRefusal(error)) await dropNextKey().catch(() => undefined);
    throw error;
  }
}

/** Moves this device's approval to a fresh key; the stored key changes only once the environment agreed. */
export async function rotateDeviceKey(session: EnvSession, oldKey: DpopSigner) {
  const keyPair = await generateDpopKeyPair(false);
  const newKey = await createDpopSigner(keyPair);
  await stageNextKey(keyPair, session);
  return sendRotation(session, oldKey, newKey);
}

/**
 * On load, before the device key is used: a rotation staged by an earlier page that never saw the
 * answer is sent again with the old key's session and a fresh proof. Moved now, or the old session
 * is refused (the earlier request moved the approval and ended it, or it has run out): the new key
 * takes over. Refused otherwise: the old key stays. No answer: decided on a later load.
 */
export async function settleStagedRotation(): Promise<RotationNotice | null> {
  const staged = await stagedNextKey();
  if (!staged) return null;
  const oldKey = await createDpopSigner((await deviceIdentity()).keyPair);
  const newKey = await createDpopSigner(staged.keyPair);
  const [oldCode, newCode] = await Promise.all([verificationCode(oldKey.thumbprint), verificationCode(newKey.thumbprint)]);
  try {
    const result = await sendRotation(staged.session, oldKey, newKey);
    return { ok: true, oldCode, newCode, endedSessions: result.endedSessions };
  } catch (error) {
    if (answerCode(error) === 'UNAUTHORIZED') {
      await commitNextKey();
      return { ok: true, oldCode, newCode, endedSessions: null };
    }
    if (isRefusal(error)) return { ok: false, message: refusal(error) };
    return { ok: false, message: `the environment could not be reached to finish it (${error instanceof Error ? error.message : String(error)})`, unsettled: true };
  }
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
    let notice: RotationNotice | null;
    try {
      const result = await rotateDeviceKey({ ...session, environmentId }, signer);
      notice = { ok: true, oldCode: await verificationCode(result.oldThumbprint), newCode: await verificationCode(result.newThumbprint), endedSessions: result.endedSessions };
    } catch (error) {
      // Not refused: the reloaded page settles the staged rotation and says how it ended.
      notice = isRefusal(error) ? { ok: false, message: refusal(error) } : null;
    }
    if (notice) sessionStorage.setItem(NOTICE, JSON.stringify(notice));
    location.reload();
  };
  if (!applies) return null;
  return (
    <button type="button" className="button" aria-busy={busy || undefined} disabled={busy} onClick={() => void rotate()}>
      {busy ? 'Rotating key…' : 'Rotate key'}
    </button>
  );
}

/**
 * After the reload (or a load that settled a rotation an earlier page left staged: `settled`): says
 * what happened and, when the key moved, connects again with the new key.
 */
export function RotationNotice({ ready, connect, settled }: { ready: boolean; connect(): void; settled: RotationNotice | null }) {
  const [stored] = useState(takeNotice);
  const notice = stored ?? settled;
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
        ? `Moved this device’s approval to a new key: its code is now ${notice.newCode} (was ${notice.oldCode}). The old key’s sessions ended${notice.endedSessions === null ? '' : ` (${notice.endedSessions})`}.`
        : notice.unsettled
          ? `A key rotation this page started is not finished: ${notice.message}. It is finished the next time this page opens.`
          : `Could not rotate the key: ${notice.message}. The old key is unchanged.`}
    </p>
  );
}
