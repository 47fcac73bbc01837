import { ConnectInput, ConnectResult } from '../../../shared/contracts';
import { connectEnvironment } from '../connect.service';
import { accountProcedure, router } from './init';

export const relayRouter = router({
  environments: router({
    connect: accountProcedure
      .input(ConnectInput)
      .output(ConnectResult)
      .mutation(({ ctx, input }) => connectEnvironment(ctx.deps, ctx.account, input, { sourceAddress: ctx.clientAddress, signal: ctx.callerGone })),
  }),
});

export type RelayRouter = typeof relayRouter;
