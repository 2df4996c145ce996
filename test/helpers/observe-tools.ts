/** Tools of the observers' live tests (test/netns/agent-observe.test.ts): a free port, Prometheus text, headless Chromium. */
import { createServer } from 'node:net';
import parseProm, { type PromFamily } from 'parse-prometheus-text-format';
import puppeteer, { type Browser } from 'puppeteer-core';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Metric families of a /metrics answer, by name. */
export const families = (text: string) => new Map<string, PromFamily>(parseProm(text).map((f) => [f.name, f]));

/** The sum of a family's samples whose labels match. */
export const sum = (f: PromFamily | undefined, match: Record<string, string> = {}) =>
  (f?.metrics ?? [])
    .filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v))
    .reduce((a, m) => a + Number(m.value ?? m.count ?? 0), 0);

/** Debian's chromium, headless, with a profile of the test's own and nothing that calls out. */
export function launchChromium(profile: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
