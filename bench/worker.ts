// The benchmark's load and client process: forked by bench/run.ts so that load generation, SSE
// parsing and client-side crypto never run on the event loop of the servers being measured.
// It answers commands over IPC ({id, cmd, args} → {id, ok, result | error}); several may run at once.
import { Agent, request } from 'node:http';
import { connectToEnvironment, fetchWhoAmI } from '../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair, type DpopSigner } from '../shared/dpop';
import { RawConnection, rawPost } from './lib/raw-http-client';
import type { LoadArgs, LoadResult, PacedArgs, PacedResult, SseOpenArgs, SseRoundArgs, SseRoundResult, ClientFlowArgs, FetchTimesArgs, WorkerCommand } from './lib/worker-protocol';

const now = () => performance.now();

function send(message: unknown): void {
  process.send?.(message);
}

// ---- HTTP load: pre-made bodies, a fixed number in flight, bounded by count and time ----

async function runLoad(args: LoadArgs): Promise<LoadResult> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let errors = 0;
  let unexpected = 0;
  let sample: string | null = null;
  const [minStatus, maxStatus] = args.expectStatus;
  const lanes = Array.from({ length: args.concurrency }, () => new RawConnection(args.host, args.port, args.requestTimeoutMs ?? 30_000));
  const build = (bodies: readonly string[]) => bodies.map((body) => (args.raw ? Buffer.from(body, 'latin1') : rawPost(args.host, args.port, args.path, body)));

  const pump = async (requests: readonly Buffer[], timed: boolean, deadline: number) => {
    let next = 0;
    const lane = async (connection: RawConnection) => {
      while (next < requests.length && now() < deadline) {
        const request = requests[next++]!;
        const started = now();
        try {
          const { status, body } = await connection.send(request);
          if (!timed) continue;
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(now() - started);
          const right = args.accept
            ? args.accept.some((a) => a.status === status && body.includes(a.contains))
            : status >= minStatus && status <= maxStatus && (args.expectContains === undefined || body.includes(args.expectContains));
          if (!right) {
            unexpected++;
            sample ??= `${status} ${body.slice(0, 300)}`;
          }
        } catch (error) {
          if (!timed) continue;
          errors++;
          sample ??= `network error: ${(error as Error).message}`;
        }
      }
    };
    await Promise.all(lanes.slice(0, Math.min(lanes.length, requests.length)).map(lane));
    return next;
  };

  const warmup = build(args.warmup ?? []);
  const requests = build(args.bodies);
  try {
    await pump(warmup, false, Number.POSITIVE_INFINITY);
    const started = now();
    const cpu0 = process.cpuUsage();
    const sent = await pump(requests, true, started + args.maxDurationMs);
    const ms = now() - started;
    const cpu = process.cpuUsage(cpu0);
    return { sent, ms, rps: (sent / ms) * 1000, statuses, errors, unexpected, sample, latencies: args.keepLatencies ? latencies : [], cpuMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    for (const lane of lanes) lane.close();
  }
}

// ---- SSE subscribers (tRPC access.events or the raw fan-out server) ----

interface Subscriber {
  req: ReturnType<typeof request>;
  buffer: string;
  ready: boolean;
  onData: ((line: string) => void) | null;
}
const subscribers: Subscriber[] = [];

function openSubscriber(args: SseOpenArgs, index: number): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...(args.headers[index % args.headers.length] ?? {}) };
    const sub: Subscriber = { req: null as never, buffer: '', ready: false, onData: null };
    const timer = setTimeout(() => reject(new Error(`subscriber ${index} got no first event in 10 s`)), 10_000);
    sub.req = request({ host: args.host, port: args.port, path: args.path, method: 'GET', headers, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        reject(new Error(`subscriber ${index}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        sub.buffer += chunk;
        let nl: number;
        while ((nl = sub.buffer.indexOf('\n')) >= 0) {
          const line = sub.buffer.slice(0, nl);
          sub.buffer = sub.buffer.slice(nl + 1);
          if (!line.startsWith('data:')) continue;
          if (!sub.ready && line.includes(args.readyMarker)) {
            sub.ready = true;
            clearTimeout(timer);
            resolve(sub);
          }
          sub.onData?.(line);
        }
      });
      res.on('error', () => undefined);
    });
    sub.req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    sub.req.end();
  });
}

async function sseOpen(args: SseOpenArgs): Promise<{ opened: number }> {
  // Open in small batches so the server sees a realistic trickle, not one accept storm.
  for (let i = 0; i < args.n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, args.n - i) }, (_, k) => openSubscriber(args, i + k)));
    subscribers.push(...batch);
  }
  return { opened: subscribers.length };
}

function fire(args: SseRoundArgs['fire']): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: args.host, port: args.port, path: args.path, method: 'POST', headers: { 'content-type': 'application/json', ...args.headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(args.body);
  });
}

async function sseRound(args: SseRoundArgs): Promise<SseRoundResult> {
  const latencies: number[] = new Array(subscribers.length).fill(Number.NaN);
  let left = subscribers.length;
  let t0 = 0;
  const all = new Promise<void>((resolve) => {
    subscribers.forEach((sub, i) => {
      sub.onData = (line) => {
        if (Number.isNaN(latencies[i]!) && args.markers.every((m) => line.includes(m))) {
          latencies[i] = now() - t0;
          if (--left === 0) resolve();
        }
      };
    });
  });
  t0 = now();
  const status = await fire(args.fire);
  const fireMs = now() - t0;
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, args.timeoutMs).unref());
  await Promise.race([all, timeout]);
  for (const sub of subscribers) sub.onData = null;
  return { status, fireMs, latencies: latencies.filter((v) => !Number.isNaN(v)), missing: left };
}

function sseClose(): { closed: number } {
  const n = subscribers.length;
  for (const sub of subscribers.splice(0)) sub.req.destroy();
  return { closed: n };
}

// ---- Client flows through the relay ----

const signers = new Map<string, DpopSigner>();

async function newSigner(): Promise<DpopSigner> {
  const signer = await createDpopSigner(await generateDpopKeyPair(false));
  signers.set(signer.thumbprint, signer);
  return signer;
}

const flowOptions = (args: ClientFlowArgs, signer: DpopSigner) => ({
  relayUrl: args.relayUrl,
  environmentId: args.environmentId,
  signer,
  getIdToken: async () => args.idToken,
});

/** client → relay → env → relay → client → redeem → whoami, `count` times, one at a time. */
async function e2e(args: ClientFlowArgs & { count: number }): Promise<{ latencies: number[]; errors: number; sample: string | null }> {
  const signer = await newSigner();
  const latencies: number[] = [];
  let errors = 0;
  let sample: string | null = null;
  for (let i = 0; i < args.count; i++) {
    const started = now();
    try {
      const session = await connectToEnvironment({ ...flowOptions(args, signer), wait: false });
      await fetchWhoAmI(session, signer);
      latencies.push(now() - started);
    } catch (error) {
      errors++;
      sample ??= String((error as Error).message);
    }
  }
  return { latencies, errors, sample };
}

/** A fresh key connects with wait; reports its thumbprint when pending, resolves once connected. */
async function waitingConnect(args: ClientFlowArgs & { tag: string }): Promise<{ connectedAt: number }> {
  const signer = await newSigner();
  let told = false;
  await connectToEnvironment({
    ...flowOptions(args, signer),
    wait: true,
    waitSeconds: 20,
    onPending: () => {
      if (!told) send({ event: 'pending', data: { tag: args.tag, thumbprint: signer.thumbprint } });
      told = true;
    },
  });
  return { connectedAt: now() };
}

/** One approved key connects every `intervalMs` (never overlapping itself) for `durationMs`. */
async function paced(args: PacedArgs): Promise<PacedResult> {
  const signer = signers.get(args.thumbprint);
  if (!signer) throw new Error('unknown signer');
  const latencies: number[] = [];
  let errors = 0;
  let sample: string | null = null;
  const end = now() + args.durationMs;
  let nextStart = now();
  for (let i = 0; i < args.maxConnects && now() < end; i++) {
    const wait = nextStart - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    nextStart += args.intervalMs;
    const started = now();
    try {
      const session = await connectToEnvironment({ ...flowOptions(args, signer), wait: false, signal: AbortSignal.timeout(30_000) });
      if (args.whoami) await fetchWhoAmI(session, signer);
      latencies.push(now() - started);
    } catch (error) {
      errors++;
      sample ??= String((error as Error).message);
    }
  }
  return { latencies, errors, sample };
}

/** GETs a URL `count` times; times to the last byte (no parsing). */
async function fetchTimes(args: FetchTimesArgs): Promise<{ times: number[]; bytes: number; status: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let bytes = 0;
  let status = 0;
  for (let i = 0; i < args.count; i++) {
    const started = now();
    await new Promise<void>((resolve, reject) => {
      const req = request({ agent, host: args.host, port: args.port, path: args.path, headers: args.headers }, (res) => {
        status = res.statusCode ?? 0;
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => {
          bytes = n;
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    times.push(now() - started);
  }
  agent.destroy();
  return { times, bytes, status };
}

async function handle(message: WorkerCommand): Promise<unknown> {
  switch (message.cmd) {
    case 'load':
      return runLoad(message.args);
    case 'sseOpen':
      return sseOpen(message.args);
    case 'sseRound':
      return sseRound(message.args);
    case 'sseClose':
      return sseClose();
    case 'newSigner':
      return { thumbprint: (await newSigner()).thumbprint };
    case 'e2e':
      return e2e(message.args);
    case 'waitingConnect':
      return waitingConnect(message.args);
    case 'paced':
      return paced(message.args);
    case 'fetchTimes':
      return fetchTimes(message.args);
    case 'post': {
      const startedAt = now();
      const status = await fire(message.args);
      return { startedAt, status, ms: now() - startedAt };
    }
    case 'memory':
      return process.memoryUsage();
  }
}

process.on('message', (message: WorkerCommand & { id: number }) => {
  handle(message).then(
    (result) => send({ id: message.id, ok: true, result }),
    (error: Error) => send({ id: message.id, ok: false, error: error?.stack ?? String(error) }),
  );
});
// The parent going away ends this process: no orphaned load generators.
process.on('disconnect', () => process.exit(0));
send({ event: 'ready' });
