import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import type { TemplatesClient } from '../api';
import type { Execution, ExecutionStarted, ExecutionStatus } from '../api';

/**
 * Statuses of a run that has not ended.
 */
const ACTIVE: ReadonlySet<ExecutionStatus> = new Set(['pending', 'running']);

/**
 * Whether an execution has not ended yet.
 */
export function isActive(execution: Execution): boolean {
  return ACTIVE.has(execution.status);
}

/**
 * The user's executions, kept up to date while some are active.
 *
 * Polls `listExecutions` every `pollInterval` ms while a run is pending or
 * running, stops when nothing runs, and resumes on `refresh()` (e.g. when a run
 * is started from the panel). When a run that was seen active ends, a Lab
 * notification says so, with a button to open the executed notebook.
 */
export class ExecutionsModel {
  constructor(options: ExecutionsModel.IOptions) {
    this._trans = options.trans;
    this._openPath = options.openPath;
    this.pollInterval = options.pollInterval ?? 2000;
  }

  /**
   * Call `listener` whenever the list, the loading flag or the error changes;
   * returns a function that unsubscribes.
   */
  subscribe(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => {
      this._listeners.delete(listener);
    };
  }

  /**
   * The executions, newest first.
   */
  get executions(): readonly Execution[] {
    return this._executions;
  }

  /**
   * Whether the first answer is still awaited.
   */
  get loading(): boolean {
    return this._loading;
  }

  /**
   * The last error's message, or null.
   */
  get error(): string | null {
    return this._error;
  }

  /**
   * Whether a poll is scheduled.
   */
  get polling(): boolean {
    return this._timer !== null;
  }

  /**
   * Milliseconds between two polls while runs are active.
   */
  pollInterval: number;

  /**
   * The service client (null when the service URL is unknown).
   */
  get client(): TemplatesClient | null {
    return this._client;
  }
  set client(client: TemplatesClient | null) {
    if (client === this._client) {
      return;
    }
    this._client = client;
    this._executions = [];
    this._seenActive.clear();
    this._loaded = false;
    void this.refresh();
  }

  /**
   * Fetch the list now; keep polling while some run is active.
   */
  async refresh(): Promise<void> {
    this._clearTimer();
    const client = this._client;
    if (!client || this._disposed) {
      return;
    }
    const request = ++this._request;
    if (!this._loaded) {
      this._loading = true;
      this._emit();
    }
    let active = false;
    try {
      const page = await client.listExecutions({ limit: 50 });
      if (request !== this._request || this._disposed) {
        return;
      }
      this._update(page.executions);
      this._error = null;
      active = page.executions.some(isActive) || this._starting > 0;
    } catch (reason) {
      if (request !== this._request || this._disposed) {
        return;
      }
      this._error = errorMessage(reason);
      // Keep trying while runs were active, the service may come back.
      active = this._seenActive.size > 0 || this._starting > 0;
    }
    this._loading = false;
    this._loaded = true;
    this._emit();
    if (active) {
      this._schedule();
    }
  }

  /**
   * Start a run from the panel: poll while the request is under way (the
   * service answers once the first cell has run) and until the run ends, then
   * notify.
   */
  async start(run: () => Promise<ExecutionStarted>): Promise<ExecutionStarted> {
    this._starting++;
    void this.refresh();
    try {
      const started = await run();
      this._seenActive.add(started.execution_id);
      return started;
    } finally {
      this._starting--;
      void this.refresh();
    }
  }

  /**
   * Stop polling for good.
   */
  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    this._listeners.clear();
  }

  private _emit(): void {
    for (const listener of [...this._listeners]) {
      listener();
    }
  }

  private _update(executions: Execution[]): void {
    for (const execution of executions) {
      const id = execution.execution_id;
      if (isActive(execution)) {
        this._seenActive.add(id);
      } else if (this._seenActive.has(id)) {
        this._seenActive.delete(id);
        this._notifyEnded(execution);
      }
    }
    this._executions = executions;
  }

  private _notifyEnded(execution: Execution): void {
    const trans = this._trans;
    const message = trans.__(
      'Execution %1 finished: %2',
      execution.execution_id,
      statusLabel(trans, execution.status)
    );
    const actions: Notification.IAction[] = [];
    if (execution.output_path && execution.status !== 'cancelled') {
      actions.push({
        label: trans.__('Open output'),
        caption: execution.output_path,
        callback: () => {
          this._openPath(execution.output_path);
        }
      });
    }
    const options = { autoClose: 10000, actions };
    switch (execution.status) {
      case 'success':
        Notification.success(message, options);
        break;
      case 'failed':
        Notification.error(message, options);
        break;
      default:
        Notification.warning(message, options);
    }
  }

  private _schedule(): void {
    this._clearTimer();
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, this.pollInterval);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _trans: TranslationBundle;
  private _openPath: (path: string) => void;
  private _client: TemplatesClient | null = null;
  private _executions: Execution[] = [];
  private _seenActive = new Set<number>();
  private _loading = false;
  private _loaded = false;
  private _error: string | null = null;
  private _timer: number | null = null;
  private _request = 0;
  private _starting = 0;
  private _disposed = false;
  private _listeners = new Set<() => void>();
}

/**
 * A namespace for ExecutionsModel statics.
 */
export namespace ExecutionsModel {
  export interface IOptions {
    trans: TranslationBundle;
    /**
     * Open a file of the user's server in Lab.
     */
    openPath: (path: string) => void;
    pollInterval?: number;
  }
}

/**
 * The translated name of a status.
 */
export function statusLabel(
  trans: TranslationBundle,
  status: ExecutionStatus
): string {
  switch (status) {
    case 'pending':
      return trans.__('pending');
    case 'running':
      return trans.__('running');
    case 'success':
      return trans.__('success');
    case 'failed':
      return trans.__('failed');
    case 'cancelled':
      return trans.__('cancelled');
    default:
      return status;
  }
}

/**
 * The message of an error of any kind.
 */
export function errorMessage(reason: unknown): string {
  if (reason instanceof Error) {
    return reason.message;
  }
  return String(reason);
}
