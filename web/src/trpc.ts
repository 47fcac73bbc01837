// The owner's tRPC client: cookie session, same origin. Types come from the env router (type-only).
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { createTRPCReact } from '@trpc/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import type { EnvRouter } from '../../server/env/trpc/app-router';

export const trpc = createTRPCReact<EnvRouter>();

type Outputs = inferRouterOutputs<EnvRouter>;
export type ConnectClient = Outputs['connect']['clients']['list']['items'][number];
export type ClientPage = Outputs['connect']['clients']['list'];
export type ConnectedDevice = Outputs['connect']['clients']['connected'][number];
export type ClientDetails = Outputs['connect']['clients']['details'];
export type AuditEntry = Outputs['connect']['audit']['list'][number];
export type SecurityMode = Outputs['connect']['securityMode']['get']['mode'];

export function createOwnerClient() {
  const url = `${window.location.origin}/trpc`;
  return createTRPCClient<EnvRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        // The browser's own EventSource sends the HttpOnly session cookie on a same-origin stream.
        true: httpSubscriptionLink({ url }),
        false: httpBatchLink({ url }),
      }),
    ],
  });
}

export type OwnerClient = ReturnType<typeof createOwnerClient>;

type Yielded<T> = T extends AsyncIterable<infer U, unknown, unknown> ? U : never;
/** One event of `access.events` (snapshot, mode change, client upserted or removed). */
export type AccessEvent = Yielded<Outputs['access']['events']>['data'];
/** One message of a connected client's `client.session` stream. */
export type ClientSessionState = Yielded<Outputs['client']['session']>;
