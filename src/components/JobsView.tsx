import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Job, JobRun } from '../api';
import {
  describeCron,
  formatRunTime,
  runInProgress,
  runOutcome
} from '../jobs';
import { useTemplatesContext } from './context';
import { errorMessage } from './executionsModel';
import { absoluteTime, relativeTime } from './format';
import { StateMessage } from './StateMessage';

/**
 * How often the list is read again while it is shown (ms): every 10 s, and
 * every 3 s while a run it shows has not ended.
 */
export const IDLE_REFRESH = 10000;
export const ACTIVE_REFRESH = 3000;

/**
 * How many runs a job's history shows.
 */
const HISTORY_LIMIT = 20;

type History = { runs: JobRun[] | null; error: string | null };

type Action = 'pause' | 'resume' | 'run' | 'delete';

/**
 * The user's jobs, with their schedules, next and last runs, actions and
 * histories. Read again after each action and periodically while shown.
 */
export function JobsView(props: {
  /** Show an execution in the Executions tab. */
  onShowExecution: (id: number) => void;
}): JSX.Element {
  const { client, trans, openPath } = useTemplatesContext();
  const [jobs, setJobs] = React.useState<Job[]>([]);
  const [loaded, setLoaded] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState<Record<number, Action>>({});
  const [histories, setHistories] = React.useState<Record<number, History>>({});
  // Bumped after each read, to arm the next one.
  const [tick, setTick] = React.useState(0);
  const historiesRef = React.useRef(histories);
  historiesRef.current = histories;
  const rootRef = React.useRef<HTMLDivElement>(null);
  const request = React.useRef(0);

  const refresh = React.useCallback(async (): Promise<void> => {
    if (!client) {
      return;
    }
    const current = ++request.current;
    try {
      const open = Object.keys(historiesRef.current).map(Number);
      const [page, runs] = await Promise.all([
        client.listJobs({ limit: 100 }),
        Promise.all(
          open.map(id =>
            client.listJobRuns(id, { limit: HISTORY_LIMIT }).then(
              answer => ({ id, runs: answer.runs, error: null }),
              reason => ({ id, runs: null, error: errorMessage(reason) })
            )
          )
        )
      ]);
      if (current !== request.current) {
        return;
      }
      setJobs(page.jobs);
      setError(null);
      const ids = new Set(page.jobs.map(job => job.id));
      setHistories(old => {
        const next: Record<number, History> = {};
        for (const [key, history] of Object.entries(old)) {
          if (ids.has(Number(key))) {
            next[Number(key)] = history;
          }
        }
        for (const item of runs) {
          if (item.id in next) {
            next[item.id] = {
              runs: item.runs ?? next[item.id].runs,
              error: item.error
            };
          }
        }
        return next;
      });
    } catch (reason) {
      if (current === request.current) {
        setError(errorMessage(reason));
      }
    } finally {
      if (current === request.current) {
        setLoaded(true);
        setTick(n => n + 1);
      }
    }
  }, [client]);

  React.useEffect(() => {
    void refresh();
  }, [refresh]);

  const inProgress =
    jobs.some(
      job => job.last_run !== undefined && runInProgress(job.last_run)
    ) ||
    Object.values(histories).some(
      history => history.runs?.some(runInProgress) ?? false
    );
  React.useEffect(() => {
    if (!client) {
      return;
    }
    const timer = window.setTimeout(
      () => {
        if (isShown(rootRef.current)) {
          void refresh();
        } else {
          // Hidden (sidebar collapsed, browser tab in the background): ask later.
          setTick(n => n + 1);
        }
      },
      inProgress ? ACTIVE_REFRESH : IDLE_REFRESH
    );
    return () => window.clearTimeout(timer);
  }, [tick, inProgress, client, refresh]);

  const act = async (job: Job, action: Action): Promise<void> => {
    if (!client) {
      return;
    }
    if (action === 'delete') {
      const result = await showDialog({
        title: trans.__('Delete job'),
        body: trans.__(
          'Delete the job "%1" and its history? Its notebooks and executions stay. This cannot be undone.',
          job.name
        ),
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.warnButton({ label: trans.__('Delete') })
        ],
        // Enter cancels: deleting takes a deliberate click.
        defaultButton: 0
      });
      if (!result.button.accept) {
        return;
      }
    }
    setBusy(old => ({ ...old, [job.id]: action }));
    try {
      switch (action) {
        case 'pause':
          await client.pauseJob(job.id);
          break;
        case 'resume':
          await client.resumeJob(job.id);
          break;
        case 'run':
          await client.runJob(job.id);
          setHistories(old =>
            job.id in old ? old : { ...old, [job.id]: emptyHistory() }
          );
          break;
        case 'delete':
          await client.deleteJob(job.id);
          Notification.success(trans.__('Deleted the job "%1"', job.name), {
            autoClose: 5000
          });
          break;
      }
    } catch (reason) {
      Notification.error(failureText(action, job.name, errorMessage(reason)));
    }
    setBusy(old => {
      const next = { ...old };
      delete next[job.id];
      return next;
    });
    await refresh();
  };

  const toggleHistory = (job: Job): void => {
    if (job.id in histories) {
      const next = { ...histories };
      delete next[job.id];
      setHistories(next);
      return;
    }
    historiesRef.current = { ...histories, [job.id]: emptyHistory() };
    setHistories(historiesRef.current);
    void refresh();
  };

  const failureText = (action: Action, name: string, why: string): string => {
    switch (action) {
      case 'pause':
        return trans.__('Could not pause "%1": %2', name, why);
      case 'resume':
        return trans.__('Could not resume "%1": %2', name, why);
      case 'run':
        return trans.__('Could not run "%1": %2', name, why);
      default:
        return trans.__('Could not delete "%1": %2', name, why);
    }
  };

  let state: JSX.Element | null = null;
  if (!client) {
    state = (
      <StateMessage state="error">
        {trans.__(
          'The templates service is unknown: JupyterLab does not seem to run under JupyterHub.'
        )}
      </StateMessage>
    );
  } else if (error !== null && jobs.length === 0) {
    state = (
      <StateMessage state="error">
        <p className="jp-Templates-stateTitle">
          {trans.__('The jobs cannot be listed.')}
        </p>
        <p className="jp-Templates-stateDetail">{error}</p>
      </StateMessage>
    );
  } else if (!loaded) {
    state = (
      <StateMessage state="loading">{trans.__('Loading jobs…')}</StateMessage>
    );
  } else if (jobs.length === 0) {
    state = (
      <StateMessage state="empty">
        {trans.__(
          'No jobs yet. Open a template and choose "Schedule…" to run it on a schedule.'
        )}
      </StateMessage>
    );
  }

  return (
    <div className="jp-Templates-jobs" ref={rootRef}>
      <div className="jp-Templates-executionsToolbar">
        <span className="jp-Templates-executionsSummary" aria-live="polite">
          {jobs.length > 0 ? trans._n('%1 job', '%1 jobs', jobs.length) : ''}
        </span>
        <button
          type="button"
          className="jp-Templates-refresh jp-Button jp-mod-minimal"
          aria-label={trans.__('Refresh jobs')}
          title={trans.__('Refresh jobs')}
          onClick={() => void refresh()}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      {error !== null && jobs.length > 0 && (
        <div className="jp-Templates-executionsError" role="alert">
          {error}
        </div>
      )}
      {state}
      {jobs.length > 0 && (
        <ul className="jp-Templates-jobList" aria-label={trans.__('Jobs')}>
          {jobs.map(job => (
            <JobRow
              key={job.id}
              job={job}
              busy={busy[job.id] ?? null}
              history={histories[job.id] ?? null}
              onAction={action => void act(job, action)}
              onToggleHistory={() => toggleHistory(job)}
              onOpen={openPath}
              onShowExecution={props.onShowExecution}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

function emptyHistory(): History {
  return { runs: null, error: null };
}

/**
 * Whether the element is laid out (its panel is not hidden) in a visible page.
 */
function isShown(element: HTMLElement | null): boolean {
  return element !== null && element.offsetParent !== null && !document.hidden;
}

/**
 * One job: what it runs, when, how its last run went, and its actions.
 */
function JobRow(props: {
  job: Job;
  busy: Action | null;
  history: History | null;
  onAction: (action: Action) => void;
  onToggleHistory: () => void;
  onOpen: (path: string) => void;
  onShowExecution: (id: number) => void;
}): JSX.Element {
  const { job, busy, history, onAction } = props;
  const { trans } = useTemplatesContext();
  const described = describeCron(job.schedule, trans);
  const last = job.last_run;
  let next: string;
  if (!job.active) {
    next = trans.__('Paused');
  } else if (job.next_run_at) {
    next = formatRunTime(job.next_run_at);
  } else if (!job.schedule) {
    next = trans.__('Only when asked');
  } else {
    next = '—';
  }
  const historyId = `jp-Templates-jobHistory-${job.id}`;
  return (
    <li
      className="jp-Templates-job"
      data-job-id={job.id}
      data-active={job.active ? 'true' : 'false'}
    >
      <div className="jp-Templates-executionHeader">
        <span className="jp-Templates-executionTitle">{job.name}</span>
        <span
          className={`jp-Templates-status jp-mod-${job.active ? 'active' : 'paused'}`}
        >
          {job.active ? trans.__('active') : trans.__('paused')}
        </span>
      </div>
      <dl className="jp-Templates-jobMeta">
        <dt>{trans.__('Template')}</dt>
        <dd className="jp-Templates-jobTemplate">{job.template_name}</dd>
        <dt>{trans.__('Schedule')}</dt>
        <dd className="jp-Templates-jobSchedule">
          {job.schedule ? (
            <>
              <span title={job.schedule}>
                {described ?? <code>{job.schedule}</code>}
              </span>
              <span className="jp-Templates-jobZone">
                {described ? ` · ${job.schedule}` : ''} · {job.timezone}
              </span>
            </>
          ) : (
            trans.__('None: runs when asked')
          )}
        </dd>
        <dt>{trans.__('Next run')}</dt>
        <dd
          className="jp-Templates-jobNext"
          title={
            job.next_run_at
              ? formatRunTime(job.next_run_at, { timeZone: job.timezone })
              : undefined
          }
        >
          {next}
        </dd>
        <dt>{trans.__('Last run')}</dt>
        <dd className="jp-Templates-jobLast">
          {last ? (
            <>
              <RunStatus run={last} />{' '}
              <span title={absoluteTime(runTime(last))}>
                {relativeTime(runTime(last))}
              </span>
            </>
          ) : (
            trans.__('None yet')
          )}
        </dd>
      </dl>
      <div className="jp-Templates-executionActions">
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          disabled={busy !== null}
          onClick={() => onAction(job.active ? 'pause' : 'resume')}
        >
          {job.active ? trans.__('Pause') : trans.__('Resume')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy !== null}
          onClick={() => onAction('run')}
        >
          {busy === 'run' ? trans.__('Starting…') : trans.__('Run now')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          aria-expanded={history !== null}
          aria-controls={history !== null ? historyId : undefined}
          onClick={props.onToggleHistory}
        >
          {trans.__('History')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-warn"
          disabled={busy !== null}
          onClick={() => onAction('delete')}
        >
          {trans.__('Delete')}
        </button>
      </div>
      {history !== null && (
        <div
          id={historyId}
          className="jp-Templates-jobHistory"
          aria-label={trans.__('Runs of %1', job.name)}
        >
          {history.error !== null && (
            <div className="jp-Templates-executionsError" role="alert">
              {history.error}
            </div>
          )}
          {history.runs === null ? (
            history.error === null && (
              <div className="jp-Templates-help">
                {trans.__('Loading runs…')}
              </div>
            )
          ) : history.runs.length === 0 ? (
            <div className="jp-Templates-help">{trans.__('No runs yet.')}</div>
          ) : (
            <ul className="jp-Templates-jobRuns">
              {history.runs.map(run => (
                <JobRunRow
                  key={run.id}
                  run={run}
                  onOpen={props.onOpen}
                  onShowExecution={props.onShowExecution}
                />
              ))}
            </ul>
          )}
        </div>
      )}
    </li>
  );
}

/**
 * When a run ended, or else when it was made.
 */
function runTime(run: JobRun): string {
  return run.execution?.end_time ?? run.execution?.start_time ?? run.created_at;
}

/**
 * A run's outcome as a status badge.
 */
function RunStatus(props: { run: JobRun }): JSX.Element {
  const { trans } = useTemplatesContext();
  const outcome = runOutcome(props.run);
  return (
    <span
      className={`jp-Templates-status jp-mod-${outcome}`}
      data-status={outcome}
      title={props.run.message ?? undefined}
    >
      {outcomeLabel(trans, outcome)}
    </span>
  );
}

function outcomeLabel(
  trans: ReturnType<typeof useTemplatesContext>['trans'],
  outcome: string
): string {
  switch (outcome) {
    case 'queued':
      return trans.__('queued');
    case 'dispatching':
    case 'dispatched':
      return trans.__('starting');
    case 'skipped':
      return trans.__('skipped');
    case 'failed':
      return trans.__('failed');
    case 'pending':
      return trans.__('pending');
    case 'running':
      return trans.__('running');
    case 'success':
      return trans.__('success');
    case 'cancelled':
      return trans.__('cancelled');
    default:
      return outcome;
  }
}

/**
 * One run in a job's history: outcome, slot, notebook and links.
 */
function JobRunRow(props: {
  run: JobRun;
  onOpen: (path: string) => void;
  onShowExecution: (id: number) => void;
}): JSX.Element {
  const { run } = props;
  const { trans } = useTemplatesContext();
  const output = run.execution?.output_path || run.notebook_path;
  const ended =
    run.execution !== undefined &&
    run.execution.status !== 'pending' &&
    run.execution.status !== 'running';
  return (
    <li
      className="jp-Templates-jobRun"
      data-run-id={run.id}
      data-state={run.state}
      data-outcome={runOutcome(run)}
    >
      <div className="jp-Templates-executionHeader">
        <span>
          {run.slot
            ? trans.__('Run %1 · slot %2', run.id, formatRunTime(run.slot))
            : trans.__('Run %1 · asked for', run.id)}
        </span>
        <RunStatus run={run} />
      </div>
      <div className="jp-Templates-executionTime">
        <span title={absoluteTime(runTime(run))}>
          {relativeTime(runTime(run))}
        </span>
        {run.execution?.duration && (
          <span>{trans.__('Duration: %1', run.execution.duration)}</span>
        )}
      </div>
      {run.notebook_path && (
        <div className="jp-Templates-executionPath">{run.notebook_path}</div>
      )}
      {run.message && (
        <div className="jp-Templates-executionError">{run.message}</div>
      )}
      {(output || run.execution_id !== null) && (
        <div className="jp-Templates-executionActions">
          {output && (
            <button
              type="button"
              className="jp-mod-styled jp-mod-reject"
              disabled={!ended}
              title={output}
              onClick={() => props.onOpen(output)}
            >
              {trans.__('Open output')}
            </button>
          )}
          {run.execution_id !== null && (
            <button
              type="button"
              className="jp-mod-styled jp-mod-reject"
              onClick={() => props.onShowExecution(run.execution_id as number)}
            >
              {trans.__('Execution #%1', run.execution_id)}
            </button>
          )}
        </div>
      )}
    </li>
  );
}
