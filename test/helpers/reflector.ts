import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { netnsArgv } from '../../shared/exec.js';

export const HELPERS_DIR = fileURLToPath(new URL('.', import.meta.url));

/** A process started in a namespace, with its output collected. */
export interface NsProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the process has exited (after stop or on its own). */
  exited: Promise<number | null>;
  /** SIGTERM (then SIGKILL), and wait for exit. Safe to call twice. */
  stop: () => Promise<void>;
}

const running = new Set<NsProcess>();

/** Stops every process startIn started that is still running (afterAll safety net, so a
 *  failed assertion never leaves a capture or reflector behind). */
export async function stopAllStarted(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/**
 * Starts argv inside namespace `ns` (via nsenter, so /sys/fs/bpf stays visible) and
 * resolves once `readyText` shows up on stdout or stderr (or rejects if it exits first).
 */
export function startIn(ns: string, argv: readonly string[], readyText: string): Promise<NsProcess> {
  const [cmd, ...args] = netnsArgv(ns, argv);
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((res) =>
    child.on('close', (code) => {
      running.delete(proc);
      res(code);
    }),
  );
  const proc: NsProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  running.add(proc);
  return new Promise((resolve, reject) => {
    let done = false;
    const check = () => {
      if (!done && (out.includes(readyText) || err.includes(readyText))) {
        done = true;
        resolve(proc);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      check();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      check();
    });
    void exited.then((code) => {
      if (!done) {
        done = true;
        reject(new Error(`${argv.join(' ')} exited (${code}) before "${readyText}": ${err.trim()}`));
      }
    });
  });
}

/**
 * The test stand-in for an allow-all inline dp: every frame that arrives on `dev` (vth)
 * goes straight back out unchanged. stop() resolves to the number of frames reflected.
 */
export async function startReflector(
  ns: string,
  dev: string,
): Promise<{ proc: NsProcess; stop: () => Promise<number> }> {
  const proc = await startIn(ns, ['python3', '-u', `${HELPERS_DIR}reflector.py`, dev], 'ready');
  return {
    proc,
    stop: async () => {
      await proc.stop();
      const m = /reflected (\d+)/.exec(proc.stdout());
      return m ? Number(m[1]) : 0;
    },
  };
}
