// Reads an `strace -f -yy -s N` log of a server and checks S64: every answer leaves on its socket only
// after an fsync/fdatasync of the WAL that completed after the commit holding what it answers.

export interface TraceCall {
  /** Line index where the call started, and where it returned (the same unless it was interrupted). */
  start: number;
  end: number;
  tid: number;
  name: string;
  /** What `-yy` printed for the first argument (a path, `TCP:[a:p->b:q]`), or ''. */
  fdPath: string;
  args: string;
  /** The call was skipped by `strace -e inject=…` (a sync that never reached the disk). */
  injected: boolean;
}

const CALL = /^(\d+)\s+(\w+)\((.*)$/;
const RESUMED = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$/;
const UNFINISHED = / <unfinished \.\.\.>$/;

export function parseStrace(log: string): TraceCall[] {
  const calls: TraceCall[] = [];
  const open = new Map<number, TraceCall>();
  log.split('\n').forEach((line, index) => {
    const resumed = RESUMED.exec(line);
    if (resumed) {
      const call = open.get(Number(resumed[1]));
      if (!call) return;
      open.delete(call.tid);
      call.end = index;
      call.args += resumed[3];
      call.injected = / \(INJECTED\)$/.test(line);
      return;
    }
    const m = CALL.exec(line);
    if (!m) return;
    const args = m[3]!;
    const call: TraceCall = { start: index, end: index, tid: Number(m[1]), name: m[2]!, fdPath: /^\d+<((?:TCP|TCPv6|UDP):\[[^\]]*\]|[^>]*)>/.exec(args)?.[1] ?? '', args, injected: / \(INJECTED\)$/.test(line) };
    calls.push(call);
    if (UNFINISHED.test(line)) open.set(call.tid, call);
  });
  return calls;
}

const SYNCS = new Set(['fsync', 'fdatasync']);
const WRITES = new Set(['pwrite64', 'pwritev', 'pwritev2', 'write', 'writev']);
const SENDS = new Set(['write', 'writev', 'sendmsg', 'sendto']);

export interface Answer {
  /** The caller's port: the server's socket to it is `TCP:[…->127.0.0.1:<port>]`. */
  clientPort: number;
  /** Text that the commit behind this answer wrote into the WAL (a thumbprint, a credential hash). */
  committed: string;
}

export interface AnswerOrder {
  clientPort: number;
  /** Line of the first socket write of the answer, of the last WAL write holding `committed` before it, and of the first real WAL sync after that. */
  answerAt: number | null;
  walWriteAt: number | null;
  syncAt: number | null;
  /** Why this answer breaks S64, or null when it is durable before it is sent. */
  violation: string | null;
}

/** For each answer: was a WAL sync (not an injected one) complete after its commit's WAL write and before the answer started? */
export function checkAnswersFollowSync(calls: TraceCall[], walPath: string, answers: Answer[]): AnswerOrder[] {
  const isWal = (c: TraceCall) => c.fdPath === walPath;
  return answers.map(({ clientPort, committed }) => {
    const socket = new RegExp(`->127\\.0\\.0\\.1:${clientPort}\\]$`);
    const answer = calls.find((c) => SENDS.has(c.name) && socket.test(c.fdPath) && c.args.includes('HTTP/1.1 200'));
    const result: AnswerOrder = { clientPort, answerAt: answer?.start ?? null, walWriteAt: null, syncAt: null, violation: null };
    if (!answer) return { ...result, violation: 'no 200 answer on its socket in the trace' };
    const walWrite = calls.filter((c) => c.start < answer.start && WRITES.has(c.name) && isWal(c) && c.args.includes(committed)).at(-1);
    if (!walWrite) return { ...result, violation: `nothing holding ${committed.slice(0, 12)}… was written to the WAL before the answer` };
    result.walWriteAt = walWrite.start;
    const sync = calls.find((c) => SYNCS.has(c.name) && isWal(c) && !c.injected && /\)\s+= 0$/.test(c.args) && c.start > walWrite.end && c.end < answer.start);
    if (!sync) return { ...result, violation: 'the answer left before any WAL sync after its commit' };
    return { ...result, syncAt: sync.end };
  });
}
