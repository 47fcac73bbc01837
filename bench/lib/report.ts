// The results (SPEC §10): one entry per item, medians of the runs, printed as a table and written
// to bench/results.json as {"machine": {cpus, model, node}, "runs": 3, "results": {...}}.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { round } from './stats';

export type Goal = '>=' | '<=' | '==';

export interface ResultEntry {
  value: number;
  unit: string;
  /** value ÷ the same-run baseline named by `against`, or null when the target is not a ratio. */
  ratio: number | null;
  against: string | null;
  target: number | null;
  pass: boolean | null;
  /** How `pass` was decided, in words. */
  check?: string;
  /** Further numbers of the item (per-N, tails, per-run ratios). */
  detail?: Record<string, unknown>;
}

export interface Results {
  machine: { cpus: number; model: string; node: string };
  runs: number;
  results: Record<string, ResultEntry>;
}

export function machine(): Results['machine'] {
  const list = cpus();
  return { cpus: list.length, model: list[0]?.model.trim() ?? 'unknown', node: process.version };
}

export const meets = (value: number, goal: Goal, target: number): boolean =>
  Number.isFinite(value) && (goal === '>=' ? value >= target : goal === '<=' ? value <= target : value === target);

const fmt = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return '–';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};

/** The table: one line per item, plus a short note of the details that decide it. */
export function formatTable(results: Results['results'], notes: Record<string, string>): string {
  const header = ['item', 'value', 'unit', 'ratio', 'against', 'target', 'pass', 'notes'];
  const rows = Object.entries(results).map(([name, r]) => [
    name,
    fmt(r.value),
    r.unit,
    fmt(r.ratio),
    r.against ?? '–',
    r.check ?? fmt(r.target),
    r.pass === null ? '–' : r.pass ? 'yes' : 'NO',
    notes[name] ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Rounds every number for the JSON file (the raw precision is noise). */
function rounded<T>(value: T): T {
  if (typeof value === 'number') return round(value, 3) as T;
  if (Array.isArray(value)) return value.map(rounded) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)])) as T;
  return value;
}

export function writeResults(file: string, results: Results): void {
  writeFileSync(file, `${JSON.stringify(rounded(results), null, 2)}\n`);
}
