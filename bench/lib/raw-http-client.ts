// A lean HTTP/1.1 load client for pre-made requests: the whole request (head and body) is built
// before timing, written in one go on a kept-alive socket, and the answer is read by its
// Content-Length (or its chunks, for servers that stream, like tRPC's). Node's http client cost about as much CPU per request as the server under test,
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

/** The exact bytes of a GET with the given headers (no body). */
export function rawGet(host: string, port: number, path: string, headers: Record<string, string>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n${lines}Connection: keep-alive\r\n\r\n`;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

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
    const framed = /\r\ntransfer-encoding:\s*chunked/i.test(head) ? this.chunked(end + 4) : this.sized(head, end + 4);
    if (!framed) return;
    const { body, total } = framed;
    this.buffer = this.buffer.subarray(total);
    if (/\r\nconnection:\s*close/i.test(head)) {
      this.socket?.removeAllListeners();
      this.socket?.destroy();
      this.socket = null;
      this.buffer = Buffer.alloc(0);
    }
    this.settle({ status, body });
  }

  private sized(head: string, start: number): { body: string; total: number } | null {
    const total = start + Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    return this.buffer.length < total ? null : { body: this.buffer.toString('utf8', start, total), total };
  }

  /** A chunked body, once its last (empty) chunk is in; trailers are not expected. */
  private chunked(start: number): { body: string; total: number } | null {
    const parts: Buffer[] = [];
    for (let at = start; ; ) {
      const lineEnd = this.buffer.indexOf(CRLF, at);
      if (lineEnd < 0) return null;
      const size = parseInt(this.buffer.toString('latin1', at, lineEnd), 16);
      const dataEnd = lineEnd + 2 + size;
      if (this.buffer.length < dataEnd + 2) return null;
      if (size === 0) return { body: Buffer.concat(parts).toString('utf8'), total: dataEnd + 2 };
      parts.push(this.buffer.subarray(lineEnd + 2, dataEnd));
      at = dataEnd + 2;
    }
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
