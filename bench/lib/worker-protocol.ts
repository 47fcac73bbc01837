// Commands the benchmark sends to its load/client process (bench/worker.ts), and what comes back.

export interface LoadArgs {
  host: string;
  port: number;
  path: string;
  /** Pre-made JSON bodies, sent once each. */
  bodies: string[];
  /** `bodies` (and `warmup`) are whole HTTP/1.1 requests, head included, sent as they are. */
  raw?: boolean;
  /** Sent before timing starts (opens the keep-alive sockets, warms the JIT). */
  warmup?: string[];
  concurrency: number;
  /** Stops issuing new requests after this long (in-flight ones finish). */
  maxDurationMs: number;
  /** Inclusive range of acceptable HTTP statuses. */
  expectStatus: [number, number];
  /** A substring every response body must contain. */
  expectContains?: string;
  /** Instead of the two above: the answer is right when it matches any of these. */
  accept?: { status: number; contains: string }[];
  requestTimeoutMs?: number;
  keepLatencies?: boolean;
}

export interface LoadResult {
  sent: number;
  ms: number;
  rps: number;
  statuses: Record<string, number>;
  /** Network errors (reset, timeout). */
  errors: number;
  /** Answers with an unexpected status or body. */
  unexpected: number;
  sample: string | null;
  latencies: number[];
  /** CPU time the load process itself used while timing. */
  cpuMs: number;
}

export interface SseOpenArgs {
  host: string;
  port: number;
  path: string;
  /** Request headers per subscriber, cycled (e.g. one owner session per 10 subscribers). */
  headers: Record<string, string>[];
  n: number;
  /** A substring of the first data line each subscriber must see (the snapshot). */
  readyMarker: string;
}

export interface PostArgs {
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface SseRoundArgs {
  /** Every substring must be in the data line that counts as delivered. */
  markers: string[];
  /** The request that causes the event (approve mutation, or the raw server's trigger). */
  fire: PostArgs;
  timeoutMs: number;
}

export interface SseRoundResult {
  status: number;
  /** Until the trigger's own HTTP answer arrived. */
  fireMs: number;
  latencies: number[];
  missing: number;
}

export interface ClientFlowArgs {
  relayUrl: string;
  environmentId: string;
  idToken: string;
}

export interface PacedArgs extends ClientFlowArgs {
  thumbprint: string;
  intervalMs: number;
  durationMs: number;
  maxConnects: number;
  whoami: boolean;
}

export interface PacedResult {
  latencies: number[];
  errors: number;
  sample: string | null;
}

export interface FetchTimesArgs {
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  count: number;
}

export type WorkerCommand =
  | { cmd: 'load'; args: LoadArgs }
  | { cmd: 'sseOpen'; args: SseOpenArgs }
  | { cmd: 'sseRound'; args: SseRoundArgs }
  | { cmd: 'sseClose'; args?: undefined }
  | { cmd: 'newSigner'; args?: undefined }
  | { cmd: 'e2e'; args: ClientFlowArgs & { count: number } }
  | { cmd: 'waitingConnect'; args: ClientFlowArgs & { tag: string } }
  | { cmd: 'paced'; args: PacedArgs }
  | { cmd: 'fetchTimes'; args: FetchTimesArgs }
  | { cmd: 'post'; args: PostArgs }
  | { cmd: 'memory'; args?: undefined };

export interface WorkerResults {
  load: LoadResult;
  sseOpen: { opened: number };
  sseRound: SseRoundResult;
  sseClose: { closed: number };
  newSigner: { thumbprint: string };
  e2e: { latencies: number[]; errors: number; sample: string | null };
  waitingConnect: { connectedAt: number };
  paced: PacedResult;
  fetchTimes: { times: number[]; bytes: number; status: number };
  post: { startedAt: number; status: number; ms: number };
  memory: NodeJS.MemoryUsage;
}
