// `<data-dir>/runtime.json` says which environment is running on a data directory, so CLI owner
// commands go through it (and every open page sees their changes live).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeSecretFile } from '../common/files';

const Runtime = z.object({ pid: z.number().int(), url: z.string(), environmentId: z.string(), relayUrl: z.string().nullable().optional() });
export type RuntimeInfo = z.infer<typeof Runtime>;

export const runtimeFile = (dataDir: string) => join(dataDir, 'runtime.json');

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): void {
  writeSecretFile(runtimeFile(dataDir), `${JSON.stringify(info)}\n`);
}

export function clearRuntimeInfo(dataDir: string, pid = process.pid): void {
  const info = readRuntimeInfo(dataDir);
  if (info && info.pid === pid) rmSync(runtimeFile(dataDir), { force: true });
}

/** The recorded runtime, or null when none is recorded or its process is gone. */
export function readRuntimeInfo(dataDir: string): RuntimeInfo | null {
  let parsed: RuntimeInfo;
  try {
    parsed = Runtime.parse(JSON.parse(readFileSync(runtimeFile(dataDir), 'utf8')));
  } catch {
    return null;
  }
  try {
    process.kill(parsed.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return null;
  }
  return parsed;
}
