// The harness itself: what it starts does not outlive it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));

// gone, or a zombie nobody has reaped yet (it has stopped running)
function gone(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] === 'Z';
  } catch {
    return true;
  }
}

test('a service dies with the test process that started it, even one killed outright', async () => {
  // a test process: starts a service through the harness, says its pid,
  // and is then killed with SIGKILL, so no cleanup of its own runs
  const script = `
    import { Stack } from './lib.mjs';
    import { mkdtempSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const s = new Stack();
    s.dir = mkdtempSync(join(tmpdir(), 'callsync-harness-'));
    const p = s.spawnLogged('sleeper', 'sleep', ['600']);
    console.log(p.pid + ' ' + s.dir);
    setInterval(() => {}, 1000);`;
  const t = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  t.stdout.on('data', (d) => { out += d; });
  const [pid, dir] = (await until('the service pid', () => /^\d+ \S+\n/.test(out) && out.trim())).split(' ');
  await until('the service running', () => !gone(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'));
  t.kill('SIGKILL');
  try {
    await until('the service gone with its test process', () => gone(pid), 5000);
  } finally {
    if (!gone(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(gone(pid));
});
