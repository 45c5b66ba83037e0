import * as React from 'react';

import type { Execution } from '../api';
import { useTemplatesContext } from './context';
import { isActive, statusLabel } from './executionsModel';
import { absoluteTime, basename, elapsedSince, relativeTime } from './format';

/**
 * One execution: status, progress, time, error, MLflow runs and actions.
 */
export function ExecutionRow(props: {
  execution: Execution;
  onCancel: (execution: Execution) => void;
  onViewLog: (execution: Execution) => void;
  /** Run an ended execution again with the same parameters. */
  onRerun: (execution: Execution) => void;
  /** Brought into view and marked (e.g. from a job's history). */
  focused?: boolean;
}): JSX.Element {
  const { execution, onCancel, onViewLog, onRerun, focused } = props;
  const rowRef = React.useRef<HTMLLIElement>(null);
  React.useEffect(() => {
    if (focused) {
      rowRef.current?.scrollIntoView?.({ block: 'nearest' });
    }
  }, [focused]);
  const { trans, openPath } = useTemplatesContext();
  const id = execution.execution_id;
  const active = isActive(execution);
  const { cells_done: done, cells_total: total } = execution.progress;
  const runs = execution.mlflow?.runs ?? [];
  const title = execution.template_name || basename(execution.notebook_path);

  let time: string;
  if (active) {
    const since = execution.started_running ?? execution.start_time;
    time =
      execution.status === 'pending'
        ? trans.__('Waiting for %1', elapsedSince(trans, execution.start_time))
        : trans.__('Elapsed: %1', elapsedSince(trans, since));
  } else {
    time = trans.__('Duration: %1', execution.duration ?? '—');
  }

  return (
    <li
      ref={rowRef}
      className={`jp-Templates-execution${focused ? ' jp-mod-focused' : ''}`}
      data-execution-id={id}
      data-status={execution.status}
    >
      <div className="jp-Templates-executionHeader">
        <span
          className="jp-Templates-executionTitle"
          title={execution.notebook_path}
        >
          {title}
        </span>
        <span
          className={`jp-Templates-status jp-mod-${execution.status}`}
          title={trans.__('Status')}
        >
          {statusLabel(trans, execution.status)}
        </span>
      </div>
      <div className="jp-Templates-executionPath">
        {trans.__('#%1 · %2', id, execution.notebook_path)}
        {execution.rerun_of !== null && execution.rerun_of !== undefined && (
          <span className="jp-Templates-rerunOf">
            {' · ' + trans.__('run again of #%1', execution.rerun_of)}
          </span>
        )}
      </div>
      <div className="jp-Templates-progress">
        <progress
          max={Math.max(total, 1)}
          value={
            execution.status === 'pending' && total === 0 ? undefined : done
          }
          aria-label={trans.__('Progress of execution %1', id)}
          aria-valuetext={trans.__('%1 of %2 cells', done, total)}
        />
        <span className="jp-Templates-progressText">
          {trans.__('%1 / %2 cells', done, total)}
        </span>
      </div>
      <div className="jp-Templates-executionTime">
        <span>{time}</span>
        <span title={absoluteTime(execution.start_time)}>
          {trans.__('started %1', relativeTime(execution.start_time))}
        </span>
      </div>
      {execution.error && (
        <div className="jp-Templates-executionError">
          {errorText(execution, trans)}
        </div>
      )}
      {runs.length > 0 && (
        <div className="jp-Templates-mlflow">
          <span>{trans.__('MLflow:')}</span>
          {runs.map(run => (
            <a
              key={run.run_id}
              className="jp-Templates-mlflowLink"
              href={run.url}
              target="_blank"
              rel="noopener noreferrer"
              title={trans.__('Open MLflow run %1 in a new tab', run.run_id)}
            >
              {run.run_name || run.run_id.slice(0, 8)}
            </a>
          ))}
        </div>
      )}
      <div className="jp-Templates-executionActions">
        {active && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn"
            onClick={() => onCancel(execution)}
          >
            {trans.__('Cancel')}
          </button>
        )}
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          disabled={execution.status === 'pending' || !execution.output_path}
          title={execution.output_path}
          onClick={() => openPath(execution.output_path)}
        >
          {trans.__('Open output')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          onClick={() => onViewLog(execution)}
        >
          {trans.__('View log')}
        </button>
        {!active && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept"
            title={trans.__(
              'Run the same notebook again with the same parameters'
            )}
            onClick={() => onRerun(execution)}
          >
            {trans.__('Run again')}
          </button>
        )}
      </div>
    </li>
  );
}

/**
 * "Failed: cell error — ValueError: bad input (cell 3)".
 */
function errorText(
  execution: Execution,
  trans: ReturnType<typeof useTemplatesContext>['trans']
): string {
  const error = execution.error;
  if (!error) {
    return '';
  }
  let text = trans.__('Reason: %1', error.reason);
  const detail = [error.name, error.message].filter(Boolean).join(': ');
  if (detail) {
    text += ` — ${detail}`;
  }
  if (error.cell_index !== null && error.cell_index !== undefined) {
    text += ' ' + trans.__('(cell %1)', error.cell_index);
  }
  return text;
}
