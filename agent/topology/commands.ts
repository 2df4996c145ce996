import { netnsArgv, run, runIn } from '../../shared/exec.js';

/**
 * A topology change as data: the ordered commands it would run, each in one namespace.
 * `agent plan` prints them; `execute` runs them, folding consecutive `ip` commands for
 * the same namespace into one `ip -batch -` so a lab comes up in a handful of processes.
 */
export interface Command {
  /** Namespace name or path the command runs in; undefined = the agent's own (root). */
  ns?: string;
  /** argv, starting with the tool (`ip`, `tc`, `ethtool`, `sysctl`, `bpftool`, ...). */
  argv: string[];
  /** A cleanup step whose target may already be gone (e.g. a veth peer deleted with its twin). */
  bestEffort?: boolean;
  /** Lines for `tool -batch -` (tc steering plans); argv is then [tool]. */
  batch?: string[];
  /** Why, printed by `agent plan` as a comment before the command. */
  note?: string;
}

export const ip = (ns: string | undefined, ...args: string[]): Command => ({ ns, argv: ['ip', ...args] });

/** The exact command lines, as a shell would take them (namespaced via nsenter). */
export function formatCommands(cmds: readonly Command[]): string[] {
  const out: string[] = [];
  for (const c of cmds) {
    if (c.note) out.push(`# ${c.note}`);
    const argv = netnsArgv(c.ns, c.batch ? [...c.argv, '-batch', '-'] : c.argv);
    const line = argv.map(quote).join(' ') + (c.bestEffort ? ' || true' : '');
    if (c.batch) out.push(`${line} <<'EOF'`, ...c.batch, 'EOF');
    else out.push(line);
  }
  return out;
}

function quote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Runs the commands in order; `ip` runs of one namespace go through one `ip -batch -`. */
export async function execute(cmds: readonly Command[]): Promise<void> {
  let i = 0;
  while (i < cmds.length) {
    const c = cmds[i]!;
    if (c.batch) {
      if (c.batch.length) await runIn(c.ns, [...c.argv, '-batch', '-'], { input: `${c.batch.join('\n')}\n` });
      i++;
      continue;
    }
    if (c.bestEffort || c.argv[0] !== 'ip' || c.argv[1] === 'netns') {
      await run(netnsArgv(c.ns, c.argv), { allowFail: c.bestEffort === true });
      i++;
      continue;
    }
    const lines: string[] = [];
    let j = i;
    while (j < cmds.length) {
      const d = cmds[j]!;
      if (d.ns !== c.ns || d.bestEffort || d.batch || d.argv[0] !== 'ip' || d.argv[1] === 'netns') break;
      lines.push(d.argv.slice(1).map(batchQuote).join(' '));
      j++;
    }
    if (lines.length === 1) await runIn(c.ns, c.argv);
    else await runIn(c.ns, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
    i = j;
  }
}

/** ip's batch reader splits on blanks and takes '...' or "..." verbatim (no escapes). */
function batchQuote(a: string): string {
  if (a === '') return '""';
  if (!/[\s"']/.test(a)) return a;
  return a.includes("'") ? `"${a}"` : `'${a}'`;
}
