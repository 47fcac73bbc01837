// `gatehouse/owner`: the owner's typed client for a running environment, with its admin token.
export { createOwnerClient, type OwnerClient } from './owner-client';
export type { EnvRouter } from '../trpc/app-router';
