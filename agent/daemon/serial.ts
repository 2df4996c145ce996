/**
 * The daemon's one lock: enrolment, mode switches, rule edits and learning pushes each
 * run alone, in arrival order, so concurrent CLI calls are queued rather than interleaved.
 * A task that fails does not stop the ones behind it.
 */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
