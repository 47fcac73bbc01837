// Runs a systemd unit's ExecStart the way systemd would (its User, its EnvironmentFile= variables,
// %i and ${VAR} expanded), for trying docs/deploy.md where systemd is not PID 1. Trial only:
//   node scripts/deploy-trial/run-unit.mjs /etc/systemd/system/gatehouse-relay@.service a
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [file, instance = ''] = process.argv.slice(2);
const text = readFileSync(file, 'utf8').replace(/\\\n\s*/g, ' ');
const expand = (value) => value.replaceAll('%i', instance).replaceAll('%h', process.env.HOME ?? '');
const settings = (key) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => expand(m[1].trim()));
const env = {};
for (const path of settings('EnvironmentFile')) {
  for (const line of readFileSync(path.replace(/^-/, ''), 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
}
for (const pair of settings('Environment')) for (const m of pair.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
const [exec] = settings('ExecStart');
const argv = exec.split(/\s+/).map((word) => word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name) => env[name] ?? ''));
const [user] = settings('User');
const command = user ? ['runuser', '-u', user, '--', ...argv] : argv;
console.error(`run-unit: ${command.join(' ').replace(/postgres:\/\/[^@\s]*@/g, 'postgres://***@')}`);
const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
