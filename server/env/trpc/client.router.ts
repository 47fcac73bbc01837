import { openClientSessionStream } from '../connect/client-sessions.service';
import { z } from 'zod';
import { canRotateKey, rotateClientKey } from '../connect/key-rotation.service';
import { isApprover } from '../connect/approvers.service';
import { openApproverStream } from '../connect/approver-events.service';
import { clientProcedure, router } from './init';

export const clientRouter = router({
  whoami: clientProcedure.query(({ ctx }) => ({
    environmentId: ctx.environmentId,
    clientProofKeyThumbprint: ctx.client.clientProofKeyThumbprint,
    scopes: ctx.client.scopes,
    expiresAt: ctx.client.expiresAt,
  })),
  /** Whether the owner lets this device approve others (SPEC §13): its /device page shows the waiting list only then. */
  approver: clientProcedure.query(({ ctx }) => ({ approver: isApprover(ctx.deps.db, ctx.client.clientProofKeyThumbprint, ctx.deps.clock.now()) })),
  /** Whether this client has an approval of its own to move (client-approval mode, approved): /device offers Rotate key only then. */
  canRotateKey: clientProcedure.query(({ ctx }) => ({ canRotateKey: canRotateKey(ctx.deps, ctx.client.clientProofKeyThumbprint) })),
  /** Moves this client's approval to a new key (SPEC §13): a proof signed by the new key. */
  rotateKey: clientProcedure
    .input(z.object({ newKeyProof: z.string().min(1).max(4096) }))
    .mutation(({ ctx, input }) => rotateClientKey(ctx.deps, ctx.client, ctx.environmentId, input.newKeyProof)),
  /** An approver's live waiting list (SPEC §13, S59): other devices' requests and decisions, nothing else. */
  approvals: clientProcedure.subscription(({ ctx, signal }) => openApproverStream(ctx.deps, ctx.client, signal)),
  /** A connected client's live session: `active` now, then `ended` the moment it is revoked or rejected. */
  session: clientProcedure.subscription(({ ctx, signal }) => openClientSessionStream(ctx.deps, ctx.client, signal)),
});
