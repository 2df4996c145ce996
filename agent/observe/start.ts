/**
 * Starts what `agent run --metrics` / `--ui` ask for, on the daemon's view, control and
 * event hub, and stops it again: the daemon needs one call each way. The servers (and
 * prom-client) are loaded only when asked for, so other `agent` commands start faster.
 */
import type { Logger } from '../../shared/log.js';
import { parseListenAddress, urlHost } from '../http/listen-address.js';
import type { ObserveHub } from './hub.js';
import type { DaemonControl, DaemonView } from './view.js';

export interface ObserverOptions {
  /** `--metrics` value (PORT or ADDR:PORT); undefined = off. */
  metrics?: string;
  /** `--ui` value; undefined = off. */
  ui?: string;
  /** Where the UI token file goes (root-only, beside the API socket). */
  uiTokenPath: string;
  view: DaemonView;
  control: DaemonControl;
  hub: ObserveHub;
  log: Logger;
}

export interface Observers {
  metricsUrl?: string;
  /** The page URL with the token in its fragment. */
  uiUrl?: string;
  uiTokenPath?: string;
  stop(): Promise<void>;
}

export async function startObservers(o: ObserverOptions): Promise<Observers> {
  // Parse both before starting either: a bad flag starts nothing.
  const metricsAt = o.metrics !== undefined ? parseListenAddress(o.metrics, '--metrics') : undefined;
  const uiAt = o.ui !== undefined ? parseListenAddress(o.ui, '--ui') : undefined;
  const stops: (() => Promise<void>)[] = [];
  const out: Observers = {
    async stop() {
      for (const s of stops.reverse()) await s();
    },
  };
  try {
    if (metricsAt) {
      const { TollgateMetrics } = await import('../metrics/registry.js');
      const { MetricsServer } = await import('../metrics/server.js');
      const metrics = new TollgateMetrics(o.view, o.hub);
      const server = new MetricsServer(metrics, metricsAt);
      await server.start();
      stops.push(async () => {
        await server.stop();
        metrics.close();
      });
      out.metricsUrl = `http://${urlHost(metricsAt)}/metrics`;
      o.log.info({ url: out.metricsUrl }, 'metrics endpoint');
    }
    if (uiAt) {
      const { UiServer } = await import('../ui/server.js');
      const { UiToken } = await import('../ui/token.js');
      const token = new UiToken(o.uiTokenPath);
      token.write();
      const ui = new UiServer({ address: uiAt, view: o.view, control: o.control, hub: o.hub, token });
      stops.push(async () => {
        await ui.stop();
        token.remove();
      });
      await ui.start();
      out.uiUrl = `http://${urlHost(uiAt)}/#token=${token.value}`;
      out.uiTokenPath = token.path;
      o.log.info({ url: `http://${urlHost(uiAt)}/`, tokenFile: token.path }, 'connection graph page');
    }
  } catch (e) {
    await out.stop();
    throw e;
  }
  return out;
}
