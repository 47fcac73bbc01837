import { WebhookCreateInput, WebhookCreated, WebhookIdInput } from '../../../shared/contracts';
import { createWebhook, listDeliveries, listWebhooks, removeWebhook, testWebhook } from '../webhooks/webhooks.service';
import { ownerReadProcedure, ownerWriteProcedure, router } from './init';

export const webhooksRouter = router({
  create: ownerWriteProcedure
    .input(WebhookCreateInput)
    .output(WebhookCreated)
    .mutation(({ ctx, input }) => createWebhook(ctx.deps, input, ctx.actor)),
  list: ownerReadProcedure.query(({ ctx }) => listWebhooks(ctx.deps)),
  remove: ownerWriteProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => removeWebhook(ctx.deps, input.webhookId, ctx.actor)),
  test: ownerWriteProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => testWebhook(ctx.deps, input.webhookId)),
  deliveries: ownerReadProcedure.input(WebhookIdInput).query(({ ctx, input }) => listDeliveries(ctx.deps, input.webhookId)),
});
