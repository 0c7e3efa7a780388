// tests/upstream/launch.mjs — starts llm_upstream.js for node test scripts: its port and a stop().
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UPSTREAM_JS = join(dirname(fileURLToPath(import.meta.url)), 'llm_upstream.js');

/**
 * Spawns the upstream with extra CLI args and waits (10 s at most) for its port line.
 * Resolves {port, tls, base, proc, firstLine, stdout(), stop()}: stdout() is everything the
 * upstream printed so far (it must stay the one line), stop() closes its stdin and SIGTERMs it.
 */
export function startUpstream(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [UPSTREAM_JS, '--port', '0', ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error('upstream printed no port line within 10 s')),
      10000,
    );
    function fail(e) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(e);
    }
    proc.on('error', fail);
    proc.on('exit', (code, sig) =>
      fail(new Error(`upstream exited early (code ${code}, signal ${sig})`)),
    );
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (s) => {
      out += s;
      const nl = out.indexOf('\n');
      if (settled || nl < 0) return;
      settled = true;
      clearTimeout(timer);
      const firstLine = out.slice(0, nl + 1);
      const info = JSON.parse(firstLine);
      const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
      resolve({
        port: info.port,
        tls: info.tls,
        base: `${info.tls ? 'https' : 'http'}://127.0.0.1:${info.port}`,
        proc,
        firstLine,
        exited,
        stdout: () => out,
        stop: async () => {
          proc.stdin.end();
          proc.kill('SIGTERM');
          return exited;
        },
      });
    });
  });
}
