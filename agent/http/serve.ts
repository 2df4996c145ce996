/** Listening and closing for the agent's small HTTP servers (metrics, the graph page). */
import type { Server } from 'node:http';
import { TollgateError } from '../../shared/errors.js';
import { urlHost, type ListenAddress } from './listen-address.js';

export function listen(server: Server, a: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new TollgateError('ELISTEN', `cannot listen on ${urlHost(a)}: ${e.code ?? e.message}`)),
    );
    server.listen(a.port, a.host, () => resolve());
  });
}

/** Closes the server and every open connection (SSE streams would keep it open forever). */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  const done = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  await done;
}
