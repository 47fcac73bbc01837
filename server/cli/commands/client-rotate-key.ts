// `gatehouse client rotate-key` (SPEC §13): move this machine's approval to a new key, so it stays
// approved. The new key is written beside the old one first and replaces it only once the move is done.
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connectToEnvironment, createEnvClient } from '../../../shared/client/connect';
import { createKeyRotationProof } from '../../../shared/key-rotation';
import type { EnvRouter } from '../../env/trpc/app-router';
import { CliError, EXIT } from '../options';
import { loadOrCreateClientKey, writeNewClientKey } from '../node-key-store';
import type { Output } from '../output';
import { clientIdTokenSource } from './client-id-token';

export async function runClientRotateKey(out: Output, opts: { dataDir: string; environment: string; relay: string; account?: string; idToken?: string; keyFile?: string }): Promise<number> {
  const file = opts.keyFile ?? join(opts.dataDir, 'client-key.json');
  const { signer: oldKey, created } = await loadOrCreateClientKey(file);
  if (created) {
    rmSync(file, { force: true });
    throw new CliError(`There is no client key at ${file} to rotate. Run \`gatehouse client connect\` first.`);
  }
  const relayUrl = opts.relay.replace(/\/+$/, '');
  out.line(`Connecting with the current key ${oldKey.thumbprint}…`);
  const session = await connectToEnvironment({
    relayUrl,
    environmentId: opts.environment,
    signer: oldKey,
    getIdToken: clientIdTokenSource(out, opts),
    wait: false,
  });
  const pending = `${file}.new`;
  await writeNewClientKey(pending);
  try {
    const { signer: newKey } = await loadOrCreateClientKey(pending);
    const env = createEnvClient<EnvRouter>(session, oldKey);
    const result = await env.client.rotateKey.mutate({ newKeyProof: await createKeyRotationProof(newKey, { environmentId: opts.environment, oldThumbprint: oldKey.thumbprint }) });
    renameSync(pending, file);
    out.data(result);
    out.line(`Moved this client's approval to the new key ${result.newThumbprint}; the old key's sessions ended (${result.endedSessions}).`);
    return EXIT.ok;
  } catch (error) {
    rmSync(pending, { force: true });
    throw error instanceof Error ? new CliError(`Could not rotate the key: ${error.message}. The old key is unchanged.`) : error;
  }
}
