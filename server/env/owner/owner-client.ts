// The owner's typed tRPC client for a running environment, with the admin token: what the CLI,
// the test stack and the e2e fixtures speak to an environment with.
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { EnvRouter } from '../trpc/app-router';

export function createOwnerClient(baseUrl: string, adminToken: string, actor: 'cli' | 'api' = 'cli') {
  const headers = { authorization: `Bearer ${adminToken}`, 'x-gatehouse-actor': actor };
  const url = `${baseUrl.replace(/\/+$/, '')}/trpc`;
  return createTRPCClient<EnvRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: {
            fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
          },
        }),
        false: httpBatchLink({ url, headers }),
      }),
    ],
  });
}

export type OwnerClient = ReturnType<typeof createOwnerClient>;
