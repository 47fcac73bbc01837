// The owner's passkeys and step-up over tRPC (SPEC §14). Ceremonies need the browser's own owner
// session (the cookie): the admin token has no session to verify and never needs a step-up.
import { z } from 'zod';
import { DomainError } from '../../common/errors';
import { authenticationOptions, listPasskeys, PasskeyName, registrationOptions, removePasskey, renamePasskey, stepUp, verifyRegistration, type RelyingParty } from '../owner/passkeys.service';
import { ownerReadProcedure, ownerStepUpProcedure, ownerWriteProcedure, router, type EnvContext } from './init';

const CredentialId = z.string().min(1).max(1400);
const Response = z.record(z.string(), z.unknown());

function sessionOf(ctx: EnvContext): { rp: RelyingParty; sessionKey: string } {
  if (ctx.owner?.via !== 'cookie' || !ctx.ownerKey) throw new DomainError('forbidden', 'forbidden', 'Passkeys are set up from the settings page, signed in in the browser.');
  if (!ctx.deps.ownOrigin) throw new DomainError('unavailable', 'internal', 'Passkeys need the running environment.');
  return { rp: { origin: ctx.deps.ownOrigin() }, sessionKey: ctx.ownerKey };
}

export const passkeysRouter = router({
  list: ownerReadProcedure.query(({ ctx }) => listPasskeys(ctx.deps)),
  // Adding another passkey once one exists is itself a dangerous change: a stolen session must not add its own.
  registrationOptions: ownerStepUpProcedure.mutation(({ ctx }) => {
    const { rp, sessionKey } = sessionOf(ctx);
    return registrationOptions(ctx.deps, rp, sessionKey);
  }),
  register: ownerStepUpProcedure.input(z.object({ name: PasskeyName, response: Response })).mutation(({ ctx, input }) => {
    const { rp, sessionKey } = sessionOf(ctx);
    return verifyRegistration(ctx.deps, rp, sessionKey, input, ctx.actor);
  }),
  rename: ownerWriteProcedure.input(z.object({ credentialId: CredentialId, name: PasskeyName })).mutation(({ ctx, input }) => renamePasskey(ctx.deps, input.credentialId, input.name, ctx.actor)),
  remove: ownerStepUpProcedure.input(z.object({ credentialId: CredentialId })).mutation(({ ctx, input }) => removePasskey(ctx.deps, input.credentialId, ctx.actor)),
});

export const stepUpRouter = router({
  options: ownerWriteProcedure.mutation(({ ctx }) => {
    const { rp, sessionKey } = sessionOf(ctx);
    return authenticationOptions(ctx.deps, rp, 'step_up', sessionKey);
  }),
  verify: ownerWriteProcedure.input(z.object({ response: Response })).mutation(({ ctx, input }) => {
    const { rp, sessionKey } = sessionOf(ctx);
    return stepUp(ctx.deps, rp, sessionKey, input.response);
  }),
});
