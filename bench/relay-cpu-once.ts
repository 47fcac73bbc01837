// One run of O1 + F1 (bench/scenarios/relay-cpu.ts), for profiling:
//   GATEHOUSE_BENCH_PROFILE=relay,/tmp/prof npx tsx bench/relay-cpu-once.ts [--smoke]
import { startWorker } from './lib/worker-handle';
import { relayCpuRun } from './scenarios/relay-cpu';

const smoke = process.argv.includes('--smoke');
const worker = await startWorker();
try {
  const metrics = await relayCpuRun({ smoke, worker, log: (m) => console.log(m), size: (full, small) => (smoke ? small : full) });
  console.log(JSON.stringify(metrics, null, 1));
} finally {
  await worker.close();
}
process.exit(0);
