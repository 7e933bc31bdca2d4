// Loading state for a view. Answers can arrive out of order (a slow query, then a fast one),
// so each request gets a sequence number and only the latest request's answer or failure is
// kept. A failure is kept as a message for the view to show with a Retry, never left as an
// unhandled rejection.

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class LatestAnswer<T> {
  value = $state<T | null>(null);
  error = $state<string | null>(null);
  #sequence = 0;
  #request: (() => Promise<T>) | null = null;

  /** Starts `request`; resolves once it is settled, without ever rejecting. */
  run(request: () => Promise<T>): Promise<void> {
    const sequence = ++this.#sequence;
    this.#request = request;
    this.error = null;
    let answer: Promise<T>;
    try {
      answer = request();
    } catch (e) {
      answer = Promise.reject(e);
    }
    return answer.then(
      (value) => {
        if (sequence !== this.#sequence) return;
        this.value = value;
      },
      (e: unknown) => {
        if (sequence !== this.#sequence) return;
        this.error = errorMessage(e);
      },
    );
  }

  /** Runs the latest request again. */
  retry(): Promise<void> {
    return this.#request ? this.run(this.#request) : Promise.resolve();
  }

  /** Forgets the answer, e.g. when what is asked for changes identity. */
  clear(): void {
    ++this.#sequence;
    this.value = null;
    this.error = null;
  }
}
