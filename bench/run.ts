// `npm run bench` (SPEC §10, issue 6): every item is measured in 3 runs against baselines of the
// same run; the medians are printed as a table and written to bench/results.json.
//
//   npx tsx bench/run.ts            full run (bounded to about 10 minutes)
//   npx tsx bench/run.ts --smoke    fewer rounds and requests (under 3 minutes)
//   npx tsx bench/run.ts --only=P1,P8   just the scenarios of those items (for profiling)
import { benchRelayPg, benchRelayScale } from './relay-pg';
import { fileURLToPath } from 'node:url';
import type { BenchContext, RunMetrics } from './lib/context';
import { formatTable, machine, meets, writeResults, type Goal, type ResultEntry, type Results } from './lib/report';
import { median, sum } from './lib/stats';
import { startWorker } from './lib/worker-handle';
import { approvalRun } from './scenarios/approval';
import { e2eRun } from './scenarios/e2e';
import { eventsRun, SUBSCRIBER_COUNTS } from './scenarios/events';
import { FLOOD_IN_FLIGHT, floodRun } from './scenarios/flood';
import { consoleRun } from './scenarios/console';
import { LIST_CLIENTS, listRun } from './scenarios/list';
import { IN_FLIGHT, mintRun } from './scenarios/mint';
import { raceRun } from './scenarios/race';
import { F1_IN_FLIGHT, O1_IN_FLIGHT, relayCpuRun } from './scenarios/relay-cpu';
import { tunnelScenarios } from './scenarios/tunnel';
import { tunnelResults } from './scenarios/tunnel-results';

const RUNS = 3;
const RACE_ROUNDS = 10_000;
// bench/results.json whether this runs through tsx (bench/run.ts) or compiled (.tmp/bench/run.js).
const resultsFile = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './results.json' : '../../bench/results.json', import.meta.url));

const argv = process.argv.slice(2);
const smoke = argv.includes('--smoke');
const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',').map((s) => s.trim());
const budgetMs = smoke ? 170_000 : 570_000;
const started = performance.now();
const elapsed = () => performance.now() - started;

interface Scenario {
  items: string[];
  name?: string;
  /** Fewer runs than RUNS, for a scenario that takes its own medians inside one run. */
  runs?: number;
  run(ctx: BenchContext, run: number): Promise<RunMetrics>;
}

const raceRoundsPerRun = smoke ? 200 : Math.ceil(RACE_ROUNDS / RUNS);
const scenarios: Scenario[] = [
  { items: ['L', 'L_cpu', 'fsync', 'P1', 'P2', 'P3', 'P4', 'H'], run: mintRun },
  { items: ['P5'], run: eventsRun },
  { items: ['P6'], run: approvalRun },
  { items: ['P7'], run: listRun },
  // One run: seeding 10,000 devices through the API takes ~30 s, and the run takes medians of its own.
  { items: ['P11'], name: 'console', runs: 1, run: consoleRun },
  { items: ['e2e'], run: e2eRun },
  { items: ['P8'], run: floodRun },
  ...tunnelScenarios,
  { items: ['O1', 'F1'], name: 'relay-cpu', run: relayCpuRun },
  // Last: the longest, bounded by the time left.
  { items: ['P10'], run: (ctx, run) => raceRun(ctx, raceRoundsPerRun, Math.max(10_000, (budgetMs - elapsed()) / (RUNS - run))) },
];

function entry(value: number, unit: string, opts: { ratio?: number | null; against?: string | null; target?: number | null; goal?: Goal; check?: string; pass?: boolean | null; detail?: Record<string, unknown> }): ResultEntry {
  const { ratio = null, against = null, target = null, goal } = opts;
  const decided = target === null || goal === undefined ? null : meets(ratio ?? value, goal, target);
  const pass = opts.pass === undefined ? decided : opts.pass === null ? decided : decided === null ? opts.pass : decided && opts.pass;
  return { value, unit, ratio, against, target, pass, ...(opts.check && { check: opts.check }), ...(opts.detail && { detail: opts.detail }) };
}

/** Turns the runs' metrics into SPEC §10 entries (medians; P10 violations are summed, never hidden by a median). */
function buildResults(runs: Map<string, RunMetrics[]>): { results: Results['results']; notes: Record<string, string> } {
  const results: Results['results'] = {};
  const notes: Record<string, string> = {};
  const m = (scenario: string, key: string) => median((runs.get(scenario) ?? []).map((r) => r[key] ?? Number.NaN));
  const all = (scenario: string, key: string) => (runs.get(scenario) ?? []).map((r) => r[key] ?? Number.NaN);
  const has = (scenario: string) => (runs.get(scenario)?.length ?? 0) > 0;
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));

  if (has('mint')) {
    const errors = (k: string) => sum(all('mint', `${k}_errors`));
    results.L = entry(m('mint', 'L'), 'req/s', { detail: { inFlight: IN_FLIGHT, perRun: all('mint', 'L') } });
    notes.L = `in-process verify + tx + sign, group-committed like the product, ${IN_FLIGHT} in flight`;
    // Report only: the same work without the database, and what a COMMIT's fsync costs here.
    results.L_cpu = entry(m('mint', 'L_cpu'), 'req/s', { ratio: m('mint', 'P1_of_Lcpu'), against: 'P1 / L_cpu', detail: { perRun: all('mint', 'L_cpu') } });
    notes.L_cpu = `L without the database; P1 reaches ${all('mint', 'P1_of_Lcpu').map((r) => f(r, 2)).join(' / ')} of it`;
    results.fsync = entry(m('mint', 'fsync_ms'), 'ms/COMMIT', { detail: { p90Ms: m('mint', 'fsync_p90_ms'), perRun: all('mint', 'fsync_ms') } });
    notes.fsync = `one-row COMMIT on L's database (WAL, synchronous=FULL), p50 ${f(m('mint', 'fsync_ms'), 3)} / p90 ${f(m('mint', 'fsync_p90_ms'), 3)} ms`;
    const ratioItem = (k: string, against: string, target: number, extra?: { pass: boolean; note: string }) => {
      const errs = errors(k);
      results[k] = entry(m('mint', k), 'req/s', {
        ratio: m('mint', `${k}_ratio`),
        against,
        target,
        goal: '>=',
        check: `≥ ${target}× ${against}${extra ? ` and ${extra.note}` : ''}, 0 errors`,
        pass: errs === 0 && (extra?.pass ?? true),
        detail: { ratios: all('mint', `${k}_ratio`), errors: errs, ...(k === 'P1' && { loopDelayP99Ms: m('mint', 'P1_loopP99') }) },
      });
      notes[k] = `ratios ${all('mint', `${k}_ratio`).map((r) => f(r, 2)).join(' / ')}${errs ? `; ${errs} errors` : ''}`;
    };
    const cpuNote = () =>
      `; CPU µs/mint: servers ${f(m('mint', 'P1_cpu_us'), 0)} (main ${f(m('mint', 'P1_main_us'), 0)}, v8 ${f(m('mint', 'P1_v8_us'), 0)}, pool ${f(m('mint', 'P1_pool_us'), 0)}; load generator ${f(m('mint', 'P1_load_cpu_us'), 0)} more), L ${f(m('mint', 'L_cpu_us'), 0)} (main ${f(m('mint', 'L_main_us'), 0)}, v8 ${f(m('mint', 'L_v8_us'), 0)}, pool ${f(m('mint', 'L_pool_us'), 0)})`;
    ratioItem('P1', 'L', 0.8);
    results.P1!.detail = { ...results.P1!.detail, cpuUsPerMint: m('mint', 'P1_cpu_us'), loadCpuUsPerMint: m('mint', 'P1_load_cpu_us'), lCpuUsPerMint: m('mint', 'L_cpu_us') };
    notes.P1 += cpuNote();
    ratioItem('P2', 'P1', 0.9);
    const oneRow = all('mint', 'P3_oneRowPerKey').every((v) => v === 1);
    ratioItem('P3', 'P1', 0.8, { pass: oneRow, note: 'one row per key' });
    results.P3!.detail = { ...results.P3!.detail, oneRowPerKey: oneRow };
    notes.P3 += `; one row per key: ${oneRow ? 'yes' : 'NO'}`;
    ratioItem('P4', 'P1', 5);
    // Report only: how close P4 comes to the bare HTTP exchange on this machine.
    results.H = entry(m('mint', 'H'), 'req/s', { ratio: m('mint', 'P4_of_H'), against: 'P4 / H', detail: { p4OfH: all('mint', 'P4_of_H') } });
    notes.H = `bare node:http refusal, same bodies and load; P4 reaches ${all('mint', 'P4_of_H').map((r) => f(r, 2)).join(' / ')} of it`;
  }

  if (has('events')) {
    const perN = Object.fromEntries(
      SUBSCRIBER_COUNTS.map((n) => [
        `N${n}`,
        {
          p50Ms: m('events', `N${n}_p50`),
          p99Ms: m('events', `N${n}_p99`),
          rawP50Ms: m('events', `N${n}_raw_p50`),
          rawP99Ms: m('events', `N${n}_raw_p99`),
          ratioP99: m('events', `N${n}_ratio`),
          heapKBPerSubscriber: m('events', `N${n}_heapKB`),
          rawHeapKBPerSubscriber: m('events', `N${n}_raw_heapKB`),
          missed: sum(all('events', `N${n}_missing`)),
        },
      ]),
    );
    const small = Math.max(m('events', 'N1_p99'), m('events', 'N10_p99'));
    const missed = SUBSCRIBER_COUNTS.reduce((a, n) => a + perN[`N${n}`]!.missed, 0);
    results.P5 = entry(m('events', 'N100_p99'), 'ms', {
      ratio: m('events', 'N100_ratio'),
      against: 'raw SSE fan-out, N=100 (p99)',
      target: 3,
      goal: '<=',
      check: 'p99 ≤ 25 ms at N ≤ 10; ≤ 3× raw at N=100',
      pass: small <= 25 && missed === 0,
      detail: perN,
    });
    notes.P5 = SUBSCRIBER_COUNTS.map((n) => `N=${n}: p50 ${f(m('events', `N${n}_p50`))}/p99 ${f(m('events', `N${n}_p99`))} ms (raw ${f(m('events', `N${n}_raw_p99`))}), ${f(m('events', `N${n}_heapKB`))} KB/sub`).join('; ');
  }

  if (has('approval')) {
    results.P6 = entry(m('approval', 'p95'), 'ms', { target: 250, goal: '<=', check: 'p95 ≤ 250 ms', detail: { p50Ms: m('approval', 'p50'), p95Ms: m('approval', 'p95') } });
    notes.P6 = `p50 ${f(m('approval', 'p50'))} ms, p95 ${f(m('approval', 'p95'))} ms`;
  }

  if (has('list')) {
    results.P7 = entry(m('list', 'ms'), 'ms', {
      ratio: m('list', 'ratio'),
      against: 'raw .all() + JSON.stringify',
      target: 2,
      goal: '<=',
      check: '≤ 2× raw',
      detail: { clients: LIST_CLIENTS, rawMs: m('list', 'raw_ms'), bytes: m('list', 'bytes') },
    });
    notes.P7 = `${LIST_CLIENTS} clients, ${f(m('list', 'bytes') / 1e6, 2)} MB; raw ${f(m('list', 'raw_ms'))} ms`;
  }

  if (has('console')) {
    // Issue 20 item 6: report what a person waits for; targets are the owner console's (issue 17).
    results.P11 = entry(m('console', 'first_ms'), 'ms', {
      target: 2000,
      goal: '<=',
      check: 'first render ≤ 2 s, filter ≤ 300 ms at 10,000 devices',
      pass: m('console', 'filter_ms') <= 300,
      detail: { clients: LIST_CLIENTS, filterMs: m('console', 'filter_ms'), rowsShown: m('console', 'rows_shown'), seededThroughApiSeconds: m('console', 'seed_s') },
    });
    notes.P11 = `${LIST_CLIENTS} devices (asked and decided through the API) in Chromium: first render ${f(m('console', 'first_ms'), 0)} ms, filter ${f(m('console', 'filter_ms'), 0)} ms`;
  }

  if (has('flood')) {
    const errors = sum(all('flood', 'errors'));
    const rows = Math.max(...all('flood', 'pending_rows_max'));
    const cap = m('flood', 'pending_cap');
    results.P8 = entry(m('flood', 'flood_p99'), 'ms', {
      ratio: m('flood', 'ratio'),
      against: 'same client, idle (p99)',
      target: 3,
      goal: '<=',
      check: '≤ 3× idle p99, 0 errors, rows ≤ cap',
      pass: errors === 0 && rows <= cap,
      detail: {
        inFlight: FLOOD_IN_FLIGHT,
        errors,
        idleP99Ms: m('flood', 'idle_p99'),
        floodP50Ms: m('flood', 'flood_p50'),
        pendingRowsMax: rows,
        pendingCap: cap,
        rssGrowthMB: m('flood', 'rss_growth_mb'),
        floodReqPerSec: m('flood', 'flood_rps'),
        floodRateLimited: m('flood', 'flood_rate_limited'),
        ratios: all('flood', 'ratio'),
      },
    });
    notes.P8 = `idle p99 ${f(m('flood', 'idle_p99'))} ms; errors ${errors}; rows max ${rows}/${cap}; RSS +${f(m('flood', 'rss_growth_mb'))} MB; flood ${f(m('flood', 'flood_rps'), 0)} req/s`;
  }

  if (has('race')) {
    const violations = sum(all('race', 'violations'));
    const rounds = sum(all('race', 'rounds'));
    results.P10 = entry(violations, 'violations', {
      target: 0,
      goal: '==',
      check: '0 violations',
      pass: sum(all('race', 'errors')) === 0,
      detail: { rounds, mintedBeforeRevoke: sum(all('race', 'authorized')), revokedFirst: sum(all('race', 'pending')), errors: sum(all('race', 'errors')) },
    });
    notes.P10 = `${rounds} rounds over ${runs.get('race')!.length} runs (summed); ${sum(all('race', 'authorized'))} minted first, ${sum(all('race', 'pending'))} revoked first`;
  }

  if (has('e2e')) {
    results.e2e = entry(m('e2e', 'p50'), 'ms', { pass: sum(all('e2e', 'errors')) === 0 ? null : false, detail: { p50Ms: m('e2e', 'p50'), p95Ms: m('e2e', 'p95'), errors: sum(all('e2e', 'errors')) } });
    notes.e2e = `p50 ${f(m('e2e', 'p50'))} ms, p95 ${f(m('e2e', 'p95'))} ms`;
  }
  if (has('relay-cpu')) {
    const rc = 'relay-cpu';
    const o1Errors = sum(all(rc, 'O1_errors'));
    results.O1 = entry(m(rc, 'O1_relay'), 'req/s', {
      ratio: m(rc, 'O1_ratio_basic'),
      against: 'oidc-provider 8.8.1 client_credentials (client_secret_basic)',
      target: 1.5,
      goal: '>=',
      check: '≥ 1.5× oidc-provider, 0 errors',
      pass: o1Errors === 0,
      detail: {
        inFlight: O1_IN_FLIGHT,
        relayP99Ms: m(rc, 'O1_relay_p99'),
        basicReqPerSec: m(rc, 'O1_basic'),
        basicP99Ms: m(rc, 'O1_basic_p99'),
        privateKeyJwtReqPerSec: m(rc, 'O1_pkjwt'),
        privateKeyJwtP99Ms: m(rc, 'O1_pkjwt_p99'),
        ratioPrivateKeyJwt: m(rc, 'O1_ratio_pkjwt'),
        cpuUsPerRequest: { relay: m(rc, 'O1_relay_cpu_us'), basic: m(rc, 'O1_basic_cpu_us'), privateKeyJwt: m(rc, 'O1_pkjwt_cpu_us') },
        ratios: all(rc, 'O1_ratio_basic'),
        errors: o1Errors,
        peerReplayEntriesHeld: m(rc, 'O1_replay_held'),
      },
    });
    notes.O1 = `relay p99 ${f(m(rc, 'O1_relay_p99'))} ms; oidc-provider basic ${f(m(rc, 'O1_basic'), 0)} req/s p99 ${f(m(rc, 'O1_basic_p99'))} ms, private_key_jwt ${f(m(rc, 'O1_pkjwt'), 0)} req/s p99 ${f(m(rc, 'O1_pkjwt_p99'))} ms (×${f(m(rc, 'O1_ratio_pkjwt'), 2)}); CPU µs/req relay ${f(m(rc, 'O1_relay_cpu_us'), 0)}, basic ${f(m(rc, 'O1_basic_cpu_us'), 0)}, pkjwt ${f(m(rc, 'O1_pkjwt_cpu_us'), 0)}; peer replay store held ${f(m(rc, 'O1_replay_held'), 0)} entries; ratios ${all(rc, 'O1_ratio_basic').map((r) => f(r, 2)).join(' / ')}`;
    const f1Errors = sum(all(rc, 'F1_errors'));
    results.F1 = entry(m(rc, 'F1_relay_cpu_us'), 'CPU µs/connect', {
      ratio: m(rc, 'F1_ratio'),
      against: 'crypto floor / relay CPU',
      target: 0.8,
      goal: '>=',
      check: 'floor ≥ 0.8× relay CPU per full connect, 0 errors',
      pass: f1Errors === 0,
      detail: {
        inFlight: F1_IN_FLIGHT,
        floorUs: m(rc, 'F1_floor_us'),
        envCpuUs: m(rc, 'F1_env_cpu_us'),
        floorParts: { importP256: m(rc, 'F1_import_us'), verifyEs256: m(rc, 'F1_es256_us'), verifyEdDsa: m(rc, 'F1_eddsa_verify_us'), signEdDsa: m(rc, 'F1_eddsa_sign_us') },
        ratios: all(rc, 'F1_ratio'),
        errors: f1Errors,
      },
    });
    notes.F1 = `floor ${f(m(rc, 'F1_floor_us'), 0)} µs = import ${f(m(rc, 'F1_import_us'), 0)} + 2×ES256 ${f(m(rc, 'F1_es256_us'), 0)} + 3×EdDSA verify ${f(m(rc, 'F1_eddsa_verify_us'), 0)} + 2×sign ${f(m(rc, 'F1_eddsa_sign_us'), 0)}; env ${f(m(rc, 'F1_env_cpu_us'), 0)} µs/connect; ratios ${all(rc, 'F1_ratio').map((r) => f(r, 2)).join(' / ')}`;
  }
  const tunnel = tunnelResults(runs);
  Object.assign(results, tunnel.results);
  Object.assign(notes, tunnel.notes);
  return { results, notes };
}

const scenarioName = (s: Scenario) => s.name ?? (s.items.includes('L') ? 'mint' : s.items[0] === 'P5' ? 'events' : s.items[0] === 'P6' ? 'approval' : s.items[0] === 'P7' ? 'list' : s.items[0] === 'P8' ? 'flood' : s.items[0] === 'P10' ? 'race' : 'e2e');

async function main(): Promise<void> {
  const info = machine();
  console.log(`Gatehouse bench (${smoke ? 'smoke' : 'full'}): ${info.cpus} × ${info.model}, Node ${info.node}; ${RUNS} runs per item, medians`);
  const worker = await startWorker();
  const ctx: BenchContext = { smoke, worker, log: (message) => console.log(message), size: (full, small) => (smoke ? small : full) };
  const runs = new Map<string, RunMetrics[]>();
  try {
    for (const scenario of scenarios) {
      if (only && !scenario.items.some((i) => only.includes(i))) continue;
      const name = scenarioName(scenario);
      const planned = scenario.runs ?? RUNS;
      for (let r = 0; r < planned; r++) {
        if (elapsed() > budgetMs) {
          console.log(`  ${scenario.items.join(', ')}: out of time, ${r} of ${planned} runs done`);
          break;
        }
        console.log(`${scenario.items.join(', ')} — run ${r + 1}/${planned} (${(elapsed() / 1000).toFixed(0)} s)`);
        const metrics = await scenario.run(ctx, r);
        runs.set(name, [...(runs.get(name) ?? []), metrics]);
      }
    }
  } finally {
    await worker.close();
  }
  const { results, notes } = buildResults(runs);
  if (!only || only.some((i) => i === 'R1' || i === 'R2')) {
    // Issue 8: relay connects on PostgreSQL, one instance and two behind a balancer (reported).
    console.log(`R1, R2 — relay connects on PostgreSQL (${(elapsed() / 1000).toFixed(0)} s)`);
    for (const [k, v] of Object.entries(await benchRelayPg({ smoke }))) {
      results[k] = { value: v.value, unit: v.unit, ratio: v.ratio ?? null, against: v.against ?? null, target: v.target ?? null, pass: v.pass ?? null, ...(v.note && { detail: { note: v.note } }) };
      notes[k] = v.ratio !== undefined ? `R2/R1 ${v.ratio.toFixed(2)}, report only` : 'one relay instance';
    }
  }
  if (!only || only.some((i) => i === 'R3' || i === 'R4' || i === 'R5')) {
    // Issue 15: three instances, a tunnelled environment (R3 non-holder / holder, R4 failover, R5 per core).
    console.log(`R3, R4, R5 — three relays on PostgreSQL, tunnelled env (${(elapsed() / 1000).toFixed(0)} s)`);
    try {
      for (const [k, v] of Object.entries(await benchRelayScale({ smoke }))) {
        results[k] = { value: v.value, unit: v.unit, ratio: v.ratio ?? null, against: v.against ?? null, target: v.target ?? null, pass: v.pass ?? null, ...(v.target !== undefined && { check: `≥ ${v.target}× ${v.against}, 0 errors` }), ...(v.note && { detail: { note: v.note } }) };
        notes[k] = v.note ?? '';
      }
    } catch (error) {
      results.R3 = { value: Number.NaN, unit: 'connects/s', ratio: null, against: 'via the holding instance', target: 0.8, pass: false, detail: { note: String(error) } };
      notes.R3 = `did not complete: ${(error as Error).message}`;
    }
  }
  console.log(`\n${formatTable(results, notes)}\n`);
  writeResults(resultsFile, { machine: info, runs: RUNS, results });
  const missed = Object.entries(results).filter(([, r]) => r.pass === false).map(([k]) => k);
  console.log(`Wrote ${resultsFile} in ${(elapsed() / 1000).toFixed(0)} s. ${missed.length ? `Missed: ${missed.join(', ')}.` : 'Every target met.'}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
