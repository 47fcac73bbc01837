import { ApproveConnectedInput, ApproveInput, AuditListInput, ClientCounts, ClientCountsInput, ClientDetails, ClientListInput, ClientPage, RejectAllPendingResult, ConnectedDevice, EndSessionsResult, InviteCreateInput, InviteIdInput, LockdownInput, RenameClientInput, SecurityMode, ThumbprintInput, TunnelStatus } from '../../../shared/contracts';
import { z } from 'zod';
import { listAudit } from '../audit/audit.service';
import { approveConnectedDevices, clientDetails, countClients, listClientsPage, listConnectedDevices, rejectAllPending } from '../connect/client-list';
import { endClientSessions, renameClient } from '../connect/clients.service';
import { approveClient, rejectClient, revokeClient } from '../connect/client-decisions.service';
import { getSecurityMode, setSecurityMode } from '../connect/security-mode.service';
import { webhooksRouter } from './webhooks.router';
import { requireRecentUserVerification } from '../owner/step-up';
import { lockdownStatus, setLockdown } from '../connect/lockdown.service';
import { createInvite, listOpenInvites, revokeInvite } from '../connect/invites.service';
import { ownerOrApproverReadProcedure, ownerOrApproverWriteProcedure, ownerReadProcedure, ownerStepUpOrApproverProcedure, ownerStepUpProcedure, ownerWriteProcedure, router } from './init';
import { decideAsApprover, setApprover } from '../connect/approvers.service';

export const connectRouter = router({
  securityMode: router({
    get: ownerReadProcedure.query(({ ctx }) => ({ mode: getSecurityMode(ctx.deps.db) })),
    set: ownerWriteProcedure
      .input(z.object({ mode: SecurityMode }))
      .mutation(({ ctx, input }) => {
        // Opening up to every device of the account is as dangerous as an approval (SPEC §14).
        if (input.mode === 'account') requireRecentUserVerification(ctx);
        return setSecurityMode(ctx.deps, input.mode, ctx.actor);
      }),
  }),
  clients: router({
    // An approver device may list, approve and reject (S59); everything else here is the owner's alone.
    list: ownerOrApproverReadProcedure
      .input(ClientListInput)
      .output(ClientPage)
      .query(({ ctx, input }) => listClientsPage(ctx.deps, input ?? {})),
    /** The counts per status (matching `search` when given): the console refreshes them after live events. */
    counts: ownerOrApproverReadProcedure
      .input(ClientCountsInput)
      .output(ClientCounts)
      .query(({ ctx, input }) => countClients(ctx.deps.db, input?.search)),
    /** Every pending device, loaded on the owner's page or not (issue 17 item 5). */
    rejectAllPending: ownerWriteProcedure.output(RejectAllPendingResult).mutation(({ ctx }) => rejectAllPending(ctx.deps, ctx.actor)),
    /** Devices holding live sessions now, in either mode (issue 17 item 6). */
    connected: ownerReadProcedure.output(z.array(ConnectedDevice)).query(({ ctx }) => listConnectedDevices(ctx.deps)),
    details: ownerReadProcedure
      .input(ThumbprintInput)
      .output(ClientDetails)
      .query(({ ctx, input }) => clientDetails(ctx.deps, input.clientProofKeyThumbprint)),
    /** Before requiring approval: approve devices connected now, rows or not (issue 17 item 3). */
    approveConnected: ownerStepUpProcedure
      .input(ApproveConnectedInput)
      .mutation(({ ctx, input }) => approveConnectedDevices(ctx.deps, input.clientProofKeyThumbprints, ctx.actor)),
    rename: ownerWriteProcedure
      .input(RenameClientInput)
      .mutation(({ ctx, input }) => renameClient(ctx.deps, input.clientProofKeyThumbprint, input.name, ctx.actor)),
    endSessions: ownerWriteProcedure
      .input(ThumbprintInput)
      .output(EndSessionsResult)
      .mutation(({ ctx, input }) => endClientSessions(ctx.deps, input.clientProofKeyThumbprint, ctx.actor)),
    approve: ownerStepUpOrApproverProcedure
      .input(ApproveInput)
      .mutation(({ ctx, input }) =>
        ctx.approver
          ? decideAsApprover(ctx.deps, ctx.approver.clientProofKeyThumbprint, input.clientProofKeyThumbprint, 'approve', input.expiresInSeconds)
          : approveClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor, input.expiresInSeconds),
      ),
    reject: ownerOrApproverWriteProcedure
      .input(ThumbprintInput)
      .mutation(({ ctx, input }) =>
        ctx.approver ? decideAsApprover(ctx.deps, ctx.approver.clientProofKeyThumbprint, input.clientProofKeyThumbprint, 'reject') : rejectClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor),
      ),
    setApprover: ownerStepUpProcedure
      .input(ThumbprintInput.extend({ approver: z.boolean() }))
      .mutation(({ ctx, input }) => setApprover(ctx.deps, input.clientProofKeyThumbprint, input.approver, ctx.actor)),
    revoke: ownerWriteProcedure
      .input(ThumbprintInput)
      .mutation(({ ctx, input }) => revokeClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor)),
  }),
  invites: router({
    create: ownerStepUpProcedure
      .input(InviteCreateInput)
      .mutation(({ ctx, input }) => createInvite(ctx.deps, input, ctx.actor, { environmentId: ctx.environmentId, publicUrl: ctx.deps.publicUrl?.() ?? '' })),
    list: ownerReadProcedure.query(({ ctx }) => listOpenInvites(ctx.deps)),
    revoke: ownerWriteProcedure.input(InviteIdInput).mutation(({ ctx, input }) => revokeInvite(ctx.deps, input.inviteId, ctx.actor)),
  }),
  lockdown: router({
    get: ownerReadProcedure.query(({ ctx }) => lockdownStatus(ctx.deps)),
    set: ownerWriteProcedure.input(LockdownInput).mutation(({ ctx, input }) => setLockdown(ctx.deps, input.until, ctx.actor)),
  }),
  tunnel: router({
    status: ownerReadProcedure.output(TunnelStatus).query(({ ctx }) => ctx.deps.tunnelStatus?.() ?? { state: 'disabled' }),
  }),
  webhooks: webhooksRouter,
  audit: router({
    list: ownerReadProcedure.input(AuditListInput).query(({ ctx, input }) => listAudit(ctx.deps, input ?? {})),
  }),
});
