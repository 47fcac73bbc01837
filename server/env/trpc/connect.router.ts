import { ApproveConnectedInput, AuditListInput, ClientDetails, ClientListInput, ClientPage, ConnectedDevice, EndSessionsResult, RenameClientInput, SecurityMode, ThumbprintInput, TunnelStatus } from '../../../shared/contracts';
import { z } from 'zod';
import { listAudit } from '../audit/audit.service';
import { approveConnectedDevices, clientDetails, listClientsPage, listConnectedDevices } from '../connect/client-list';
import { endClientSessions, renameClient } from '../connect/clients.service';
import { approveClient, rejectClient, revokeClient } from '../connect/client-decisions.service';
import { getSecurityMode, setSecurityMode } from '../connect/security-mode.service';
import { ownerReadProcedure, ownerStepUpProcedure, ownerWriteProcedure, router } from './init';

export const connectRouter = router({
  securityMode: router({
    get: ownerReadProcedure.query(({ ctx }) => ({ mode: getSecurityMode(ctx.deps.db) })),
    set: ownerWriteProcedure
      .input(z.object({ mode: SecurityMode }))
      .mutation(({ ctx, input }) => setSecurityMode(ctx.deps, input.mode, ctx.actor)),
  }),
  clients: router({
    list: ownerReadProcedure
      .input(ClientListInput)
      .output(ClientPage)
      .query(({ ctx, input }) => listClientsPage(ctx.deps, input ?? {})),
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
    approve: ownerStepUpProcedure
      .input(ThumbprintInput)
      .mutation(({ ctx, input }) => approveClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor)),
    reject: ownerWriteProcedure
      .input(ThumbprintInput)
      .mutation(({ ctx, input }) => rejectClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor)),
    revoke: ownerWriteProcedure
      .input(ThumbprintInput)
      .mutation(({ ctx, input }) => revokeClient(ctx.deps, input.clientProofKeyThumbprint, ctx.actor)),
  }),
  tunnel: router({
    status: ownerReadProcedure.output(TunnelStatus).query(({ ctx }) => ctx.deps.tunnelStatus?.() ?? { state: 'disabled' }),
  }),
  audit: router({
    list: ownerReadProcedure.input(AuditListInput).query(({ ctx, input }) => listAudit(ctx.deps, input ?? {})),
  }),
});
