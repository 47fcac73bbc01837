// The SPEC §10 entries of T1–T4 (bench/scenarios/tunnel.ts) from the runs' metrics.
import type { RunMetrics } from '../lib/context';
import { meets, type ResultEntry } from '../lib/report';
import { median, sum } from '../lib/stats';
import { SSE_STREAMS, T4_EXTRA_MS, TUNNEL_IN_FLIGHT } from './tunnel';

/** One entry per measured item: medians of the runs; errors and missed events summed over them. */
export function tunnelResults(runs: Map<string, RunMetrics[]>): { results: Record<string, ResultEntry>; notes: Record<string, string> } {
  const results: Record<string, ResultEntry> = {};
  const notes: Record<string, string> = {};
  const all = (scenario: string, key: string) => (runs.get(scenario) ?? []).map((r) => r[key] ?? Number.NaN);
  const m = (scenario: string, key: string) => median(all(scenario, key));
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
  const calls = 'tunnel-calls';
  if (runs.get(calls)?.length) {
    const errors = sum(all(calls, 'T1_errors')) + sum(all(calls, 'T2_errors'));
    const ratio = m(calls, 'T1_ratio');
    results.T1 = {
      value: m(calls, 'T1_tunnel'),
      unit: 'req/s',
      ratio,
      against: `direct, ${TUNNEL_IN_FLIGHT} in flight`,
      target: 0.7,
      pass: meets(ratio, '>=', 0.7) && sum(all(calls, 'T1_errors')) === 0,
      check: '≥ 0.7× direct, 0 errors',
      detail: { directReqPerSec: m(calls, 'T1_direct'), ratios: all(calls, 'T1_ratio'), errors: sum(all(calls, 'T1_errors')) },
    };
    notes.T1 = `direct ${f(m(calls, 'T1_direct'), 0)} req/s; ratios ${all(calls, 'T1_ratio').map((r) => f(r, 2)).join(' / ')}`;
    const added = m(calls, 'T2_added_p50');
    results.T2 = {
      value: added,
      unit: 'ms',
      ratio: m(calls, 'T2_tunnel_p50') / m(calls, 'T2_direct_p50'),
      against: 'direct, one call (p50)',
      target: 1,
      pass: meets(added, '<=', 1) && sum(all(calls, 'T2_errors')) === 0,
      check: 'p50 ≤ direct + 1 ms',
      detail: {
        directP50Ms: m(calls, 'T2_direct_p50'),
        directP99Ms: m(calls, 'T2_direct_p99'),
        tunnelP50Ms: m(calls, 'T2_tunnel_p50'),
        tunnelP99Ms: m(calls, 'T2_tunnel_p99'),
        addedP99Ms: m(calls, 'T2_added_p99'),
        errors: sum(all(calls, 'T2_errors')),
      },
    };
    notes.T2 = `added p50 ${f(added, 2)} ms, p99 ${f(m(calls, 'T2_added_p99'), 2)} ms; direct p50/p99 ${f(m(calls, 'T2_direct_p50'), 2)}/${f(m(calls, 'T2_direct_p99'), 2)} ms${errors ? `; ${errors} errors` : ''}`;
  }
  const sse = 'tunnel-sse';
  if (runs.get(sse)?.length) {
    const missing = sum(all(sse, 'T3_missing'));
    const ratio = m(sse, 'T3_ratio');
    results.T3 = {
      value: m(sse, 'T3_tunnel_p99'),
      unit: 'ms',
      ratio,
      against: `direct streams, N=${SSE_STREAMS} (p99)`,
      target: 2,
      pass: meets(ratio, '<=', 2) && missing === 0,
      check: 'p99 ≤ 2× direct, none missed',
      detail: { directP50Ms: m(sse, 'T3_direct_p50'), directP99Ms: m(sse, 'T3_direct_p99'), tunnelP50Ms: m(sse, 'T3_tunnel_p50'), ratios: all(sse, 'T3_ratio'), missed: missing },
    };
    notes.T3 = `revoke → ended: tunnel p50 ${f(m(sse, 'T3_tunnel_p50'), 2)} ms; direct p50/p99 ${f(m(sse, 'T3_direct_p50'), 2)}/${f(m(sse, 'T3_direct_p99'), 2)} ms${missing ? `; ${missing} missed` : ''}`;
  }
  const restart = 'tunnel-restart';
  if (runs.get(restart)?.length) {
    const target = T4_EXTRA_MS + m(restart, 'T4_step_p95');
    const over = sum(all(restart, 'T4_over'));
    results.T4 = {
      value: m(restart, 'T4_p95'),
      unit: 'ms',
      ratio: null,
      against: null,
      target,
      pass: meets(m(restart, 'T4_p95'), '<=', target),
      check: `p95 ≤ 2 s + backoff step (${f(m(restart, 'T4_step_p95'), 0)} ms)`,
      detail: { p50Ms: m(restart, 'T4_p50'), maxMs: Math.max(...all(restart, 'T4_max')), afterListeningP95Ms: m(restart, 'T4_listening_p95'), restarts: sum(all(restart, 'T4_restarts')), overTarget: over },
    };
    notes.T4 = `p50 ${f(m(restart, 'T4_p50'), 0)} ms; from listening p95 ${f(m(restart, 'T4_listening_p95'), 0)} ms; ${sum(all(restart, 'T4_restarts'))} restarts, ${over} over 2 s + their step`;
  }
  return { results, notes };
}
