import { ConnectInput, ConnectResult } from '../../../shared/contracts';
import { connectEnvironment } from '../connect.service';
import { accountProcedure, router } from './init';

export const relayRouter = router({
  environments: router({
    connect: accountProcedure
      .input(ConnectInput)
      .output(ConnectResult)
      .mutation(({ ctx, input, signal }) => connectEnvironment(ctx.deps, ctx.account, input, { sourceAddress: ctx.clientAddress, signal })),
  }),
});

export type RelayRouter = typeof relayRouter;
