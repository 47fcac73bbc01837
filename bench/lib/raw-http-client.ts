// A lean HTTP/1.1 load client for pre-made requests: the whole request (head and body) is built
// before timing, written in one go on a kept-alive socket, and the answer is read by its
// Content-Length. Node's http client cost about as much CPU per request as the server under test,
// which made the load generator, not the server, the limit for cheap requests (P4).
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  body: string;
}

/** The exact bytes of a POST with a JSON body. */
export function rawPost(host: string, port: number, path: string, body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One kept-alive connection that carries one request at a time; it reconnects when the server closes. */
export class RawConnection {
  private socket: Socket | null = null;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (a: RawAnswer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {}

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.parse();
    });
    const fail = (error: Error) => {
      if (this.socket === socket) this.socket = null;
      this.buffer = Buffer.alloc(0);
      this.settle(null, error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    return socket;
  }

  private settle(answer: RawAnswer | null, error?: Error): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    if (answer) waiting.resolve(answer);
    else waiting.reject(error ?? new Error('no answer'));
  }

  private parse(): void {
    const end = this.buffer.indexOf(HEAD_END);
    if (end < 0) return;
    const head = this.buffer.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const total = end + 4 + length;
    if (this.buffer.length < total) return;
    const body = this.buffer.toString('utf8', end + 4, total);
    this.buffer = this.buffer.subarray(total);
    if (/\r\nconnection:\s*close/i.test(head)) {
      this.socket?.removeAllListeners();
      this.socket?.destroy();
      this.socket = null;
      this.buffer = Buffer.alloc(0);
    }
    this.settle({ status, body });
  }

  send(request: Buffer): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket?.destroy();
        this.settle(null, new Error('timeout'));
      }, this.timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket ??= this.open();
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket?.removeAllListeners();
    this.socket?.destroy();
    this.socket = null;
  }
}
