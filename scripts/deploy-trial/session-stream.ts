// A device's live session (`client.session`, server-sent events) through the proxy and the relays:
// prints "session: active", then how it ended (e.g. "session: ended:revoked"). Trial only:
//   npx tsx scripts/deploy-trial/session-stream.ts RELAY_URL ENVIRONMENT_ID KEY_FILE ID_TOKEN
import { loadOrCreateClientKey } from '../../server/cli/node-key-store';
import { sessionStream } from '../../server/testing/session-stream';
import { connectToEnvironment } from '../../shared/client/connect';

const [relayUrl, environmentId, keyFile, idToken] = process.argv.slice(2);
if (!relayUrl || !environmentId || !keyFile || !idToken) throw new Error('usage: session-stream.ts RELAY_URL ENVIRONMENT_ID KEY_FILE ID_TOKEN');
const { signer } = await loadOrCreateClientKey(keyFile);
const session = await connectToEnvironment({ relayUrl, environmentId, signer, getIdToken: async () => idToken, wait: false });
const stream = sessionStream(session, signer);
await stream.active;
console.log('session: active');
await stream.done;
console.log(`session: ${stream.events.at(-1)}`);
process.exit(0);
