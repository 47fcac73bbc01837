// The S64 trace check on hand-written strace lines: interrupted calls, injected syncs, wrong order.
import { describe, expect, it } from 'vitest';
import { checkAnswersFollowSync, parseStrace } from './syscall-trace';

const WAL = '/d/env.sqlite-wal';
const sock = (port: number) => `28<TCP:[127.0.0.1:4100->127.0.0.1:${port}]>`;
const answer = (port: number) => `7 writev(${sock(port)}, [{iov_base="HTTP/1.1 200 OK\\r\\n", iov_len=17}], 1) = 17`;
const walWrite = (text: string) => `7 pwrite64(19<${WAL}>, "\\r\\0\\0${text}\\0", 4096, 8272) = 4096`;

describe('checkAnswersFollowSync', () => {
  it('passes an answer sent after a completed sync that followed its commit, also when the sync was interrupted by another thread', () => {
    const log = [walWrite('TP1'), `7 fsync(19<${WAL}> <unfinished ...>`, '9 write(5<pipe:[1]>, "x", 1) = 1', '7 <... fsync resumed>) = 0', answer(50000)].join('\n');
    expect(checkAnswersFollowSync(parseStrace(log), WAL, [{ clientPort: 50000, committed: 'TP1' }])[0]).toMatchObject({ violation: null, walWriteAt: 0, syncAt: 3, answerAt: 4 });
  });

  it('reports an answer before the sync, a sync before the commit, an injected or failed sync, a missing commit and a missing answer', () => {
    const cases: Array<[string[], string]> = [
      [[walWrite('TP1'), answer(50000), `7 fsync(19<${WAL}>) = 0`], 'the answer left before any WAL sync after its commit'],
      [[`7 fsync(19<${WAL}>) = 0`, walWrite('TP1'), answer(50000)], 'the answer left before any WAL sync after its commit'],
      [[walWrite('TP1'), `7 fdatasync(19<${WAL}>) = 0 (INJECTED)`, answer(50000)], 'the answer left before any WAL sync after its commit'],
      [[walWrite('TP1'), `7 fsync(19<${WAL}>) = -1 EIO (Input/output error)`, answer(50000)], 'the answer left before any WAL sync after its commit'],
      [[walWrite('TP1'), `7 fsync(19</d/other.sqlite-wal>) = 0`, answer(50000)], 'the answer left before any WAL sync after its commit'],
      [[walWrite('OTHER'), `7 fsync(19<${WAL}>) = 0`, answer(50000)], 'nothing holding TP1… was written to the WAL before the answer'],
      [[walWrite('TP1'), `7 fsync(19<${WAL}>) = 0`, answer(50001)], 'no 200 answer on its socket in the trace'],
    ];
    for (const [lines, why] of cases) expect(checkAnswersFollowSync(parseStrace(lines.join('\n')), WAL, [{ clientPort: 50000, committed: 'TP1' }])[0]?.violation, lines.join(' | ')).toBe(why);
  });
});
