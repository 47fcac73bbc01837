import { resolve } from 'node:path';

/** Flags win over environment variables, which win over defaults (SPEC §8). */
export function dataDirOf(flag: string | undefined): string {
  return resolve(flag ?? (process.env.GATEHOUSE_DATA_DIR || './.gatehouse'));
}

export function portOf(flag: string | undefined, envName: string, fallback: number): number {
  const raw = flag ?? (process.env[envName] || undefined);
  if (raw === undefined) return fallback;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new UsageError(`"${raw}" is not a port number (0–65535; 0 picks a free port).`);
  return Number(raw);
}

export function urlOf(flag: string | undefined, what: string): string | undefined {
  if (flag === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(flag);
  } catch {
    throw new UsageError(`${what} "${flag}" is not a URL (for example http://127.0.0.1:4100).`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${what} must be http or https.`);
  if (url.search || url.hash || url.username || url.password) throw new UsageError(`${what} must not carry a query, fragment or credentials.`);
  return url.href.replace(/\/+$/, '');
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {}

/** A command that could not do its job: one line on stderr and `exitCode` (1 unless said). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

/** Exit codes (SPEC §8). */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, blocked: 4 } as const;
