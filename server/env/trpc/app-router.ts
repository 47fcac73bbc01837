import { accessRouter } from './access.router';
import { clientRouter } from './client.router';
import { connectRouter } from './connect.router';
import { router } from './init';
import { ownerRouter } from './owner.router';

export const envRouter = router({
  connect: connectRouter,
  access: accessRouter,
  client: clientRouter,
  owner: ownerRouter,
});

export type EnvRouter = typeof envRouter;
