/** `--metrics` / `--ui` addresses and the Host check of loopback binds. */
import { describe, expect, it } from 'vitest';
import { hostHeaderAllowed, parseListenAddress, urlHost } from '../../agent/http/listen-address.js';

describe('listen addresses', () => {
  it('PORT binds to 127.0.0.1; ADDR:PORT and [V6]:PORT as given', () => {
    expect(parseListenAddress('9464', '--metrics')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListenAddress('0.0.0.0:9464', '--metrics')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListenAddress('[::1]:8088', '--ui')).toEqual({ host: '::1', port: 8088 });
    expect(urlHost({ host: '::1', port: 8088 })).toBe('[::1]:8088');
  });

  it('bad values are refused naming the flag', () => {
    for (const bad of ['', 'x', '70000', '0', '1.2.3:80', 'localhost:80', '::1:80', '1.2.3.4:']) {
      expect(() => parseListenAddress(bad, '--ui'), bad).toThrow(/--ui: --ui needs PORT, ADDR:PORT or \[ADDR\]:PORT/);
    }
  });

  it('a loopback bind accepts only loopback Host headers; other binds any', () => {
    const lo = { host: '127.0.0.1', port: 8088 };
    expect(hostHeaderAllowed('127.0.0.1:8088', lo)).toBe(true);
    expect(hostHeaderAllowed('localhost:8088', lo)).toBe(true);
    expect(hostHeaderAllowed('rebind.example:8088', lo)).toBe(false);
    expect(hostHeaderAllowed(undefined, lo)).toBe(false);
    expect(hostHeaderAllowed('node-7.example:8088', { host: '0.0.0.0', port: 8088 })).toBe(true);
  });
});
