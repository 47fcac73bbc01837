import { WebhookCreateInput, WebhookCreated, WebhookIdInput } from '../../../shared/contracts';
import { createWebhook, listDeliveries, listWebhooks, removeWebhook, testWebhook } from '../webhooks/webhooks.service';
import { ownerReadProcedure, ownerStepUpProcedure, ownerWriteProcedure, router } from './init';

export const webhooksRouter = router({
  // A webhook sends every waiting device's name and code off this machine, to a URL of the caller's
  // choosing: with a passkey, a stolen session must not add one silently (S60, beyond SPEC §14's list).
  create: ownerStepUpProcedure
    .input(WebhookCreateInput)
    .output(WebhookCreated)
    .mutation(({ ctx, input }) => createWebhook(ctx.deps, input, ctx.actor)),
  list: ownerReadProcedure.query(({ ctx }) => listWebhooks(ctx.deps)),
  remove: ownerWriteProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => removeWebhook(ctx.deps, input.webhookId, ctx.actor)),
  test: ownerWriteProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => testWebhook(ctx.deps, input.webhookId)),
  deliveries: ownerReadProcedure.input(WebhookIdInput).query(({ ctx, input }) => listDeliveries(ctx.deps, input.webhookId)),
});
