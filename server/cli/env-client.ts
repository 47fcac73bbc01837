// The owner's typed tRPC client for a running environment (CLI and tests), with the admin token.
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { EnvRouter } from '../env/trpc/app-router';

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
