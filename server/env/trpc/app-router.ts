import { accessRouter } from './access.router';
import { clientRouter } from './client.router';
import { connectRouter } from './connect.router';
import { router } from './init';

export const envRouter = router({
  connect: connectRouter,
  access: accessRouter,
  client: clientRouter,
});

export type EnvRouter = typeof envRouter;
