/**
 * An `agent run --name N` process following a sandboxed runtime (scripts/fixtures/
 * runtime-lab.ts), with what the runtime tests read from it, and a teardown that removes
 * exactly what the test made: the agent, the runtime's namespace, the enforcer, the state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcess } from './agent-proc.js';
import { run } from '../../shared/exec.js';
import { defaultStateDir, type WorkloadStatus } from '../../agent/daemon/daemon.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import type { RuntimeLab } from '../../scripts/fixtures/runtime-lab.js';

export class RuntimeAgent {
  agent!: AgentProcess;
  readonly name: string;
  private readonly rulesDir = mkdtempSync(join(tmpdir(), 'tg-rt-rules-'));

  constructor(
    readonly prefix: string,
    private readonly args: () => string[],
  ) {
    this.name = `${prefix}ag`;
  }

  /** Starts (or, after a kill, restarts) the agent with the same rules file and arguments. */
  async start(): Promise<void> {
    this.agent = new AgentProcess(null, join(this.rulesDir, 'rules.yaml'), this.prefix, '0.5', [], {
      name: this.name,
      args: this.args(),
    });
    await this.agent.start();
  }

  async workloads(): Promise<WorkloadStatus[]> {
    return (await this.agent.call('workloads')) as WorkloadStatus[];
  }

  async rules(): Promise<AllowRule[]> {
    return (await this.agent.call('rules')) as AllowRule[];
  }

  private async links(): Promise<string[]> {
    return (JSON.parse((await run(['ip', '-n', this.name, '-json', 'link'])).stdout) as { ifname: string }[]).map(
      (l) => l.ifname,
    );
  }

  /** The enforcer's vex links: one per enrolled container interface. */
  async vexLinks(): Promise<string[]> {
    return (await this.links()).filter((n) => n.startsWith('vex-'));
  }

  /** tc ingress filters on every link of the enforcer (a restarted agent must not duplicate any). */
  async filterCount(): Promise<number> {
    let n = 0;
    for (const dev of await this.links()) {
      const r = await run(
        ['nsenter', `--net=/run/netns/${this.name}`, 'tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'],
        { allowFail: true },
      );
      n += r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as unknown[]).length : 0;
    }
    return n;
  }

  async teardown(lab: RuntimeLab | undefined): Promise<void> {
    await this.agent?.stop();
    await lab?.stop();
    await run(['node', join(process.cwd(), 'bin', 'agent.js'), 'down', '--name', this.name], { allowFail: true });
    rmSync(defaultStateDir(this.name), { recursive: true, force: true });
    rmSync(this.rulesDir, { recursive: true, force: true });
  }
}
