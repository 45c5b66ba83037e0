import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import type { Execution } from '../api';
import { useTemplatesContext } from './context';
import { errorMessage, isActive } from './executionsModel';
import { ExecutionRow } from './ExecutionRow';
import { StateMessage } from './StateMessage';
import { confirmCancel } from './confirm';

/**
 * The user's executions, newest first, updated while runs are active.
 * `focusId` is brought into view and marked once listed.
 */
export function ExecutionsView(props: {
  focusId?: number | null;
}): JSX.Element {
  const { client, executions: model, trans } = useTemplatesContext();
  const [, setVersion] = React.useState(0);

  React.useEffect(() => {
    const unsubscribe = model.subscribe(() => setVersion(v => v + 1));
    void model.refresh();
    return unsubscribe;
  }, [model]);

  // Tick the elapsed times once a second while something runs.
  const anyActive = model.executions.some(isActive);
  React.useEffect(() => {
    if (!anyActive) {
      return;
    }
    const timer = window.setInterval(() => setVersion(v => v + 1), 1000);
    return () => window.clearInterval(timer);
  }, [anyActive]);

  const cancel = async (execution: Execution): Promise<void> => {
    if (!client) {
      return;
    }
    if (!(await confirmCancel(trans, execution.notebook_path))) {
      return;
    }
    try {
      await client.cancelExecution(execution.execution_id);
    } catch (reason) {
      Notification.error(
        trans.__(
          'Could not cancel execution %1: %2',
          execution.execution_id,
          errorMessage(reason)
        )
      );
    }
    void model.refresh();
  };

  const rerun = async (execution: Execution): Promise<void> => {
    if (!client) {
      return;
    }
    const id = execution.execution_id;
    const names = execution.secrets ?? [];
    let secrets: Record<string, string> | undefined;
    if (names.length > 0) {
      // Secret values are never stored: the run again needs them again.
      const body = new SecretsBody(names, name =>
        trans.__('Value of %1', name)
      );
      const result = await showDialog({
        title: trans.__('Run execution %1 again', id),
        body,
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.okButton({ label: trans.__('Run again') })
        ],
        focusNodeSelector: 'input'
      });
      if (!result.button.accept || result.value === null) {
        return;
      }
      secrets = result.value;
    }
    try {
      await model.start(() =>
        client.rerunExecution(id, secrets ? { secrets } : {})
      );
    } catch (reason) {
      Notification.error(
        trans.__(
          'Could not run execution %1 again: %2',
          id,
          errorMessage(reason)
        )
      );
    }
  };

  const viewLog = async (execution: Execution): Promise<void> => {
    if (!client) {
      return;
    }
    let text: string;
    try {
      const log = await client.executionLog(execution.execution_id);
      text = log.log || trans.__('(The log is empty.)');
      if (log.truncated) {
        text = trans.__('(Only the end of the log is shown.)') + '\n' + text;
      }
    } catch (reason) {
      text = trans.__('The log cannot be read: %1', errorMessage(reason));
    }
    const body = new Widget();
    body.addClass('jp-Templates-logDialog');
    const pre = document.createElement('pre');
    pre.className = 'jp-Templates-log';
    pre.textContent = text;
    body.node.appendChild(pre);
    await showDialog({
      title: trans.__('Log of execution %1', execution.execution_id),
      body,
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
  };

  const list = model.executions;
  let state: JSX.Element | null = null;
  if (!client) {
    state = (
      <StateMessage state="error">
        {trans.__(
          'The templates service is unknown: JupyterLab does not seem to run under JupyterHub.'
        )}
      </StateMessage>
    );
  } else if (model.error !== null && list.length === 0) {
    state = (
      <StateMessage state="error">
        <p className="jp-Templates-stateTitle">
          {trans.__('The executions cannot be listed.')}
        </p>
        <p className="jp-Templates-stateDetail">{model.error}</p>
      </StateMessage>
    );
  } else if (model.loading && list.length === 0) {
    state = (
      <StateMessage state="loading">
        {trans.__('Loading executions…')}
      </StateMessage>
    );
  } else if (list.length === 0) {
    state = (
      <StateMessage state="empty">
        {trans.__(
          'No executions yet. Open a template and choose "Create and run".'
        )}
      </StateMessage>
    );
  }

  return (
    <div className="jp-Templates-executions">
      <div className="jp-Templates-executionsToolbar">
        <span className="jp-Templates-executionsSummary" aria-live="polite">
          {model.polling
            ? trans.__('Updating while runs are active…')
            : list.length > 0
              ? trans._n('%1 execution', '%1 executions', list.length)
              : ''}
        </span>
        <button
          type="button"
          className="jp-Templates-refresh jp-Button jp-mod-minimal"
          aria-label={trans.__('Refresh executions')}
          title={trans.__('Refresh executions')}
          onClick={() => void model.refresh()}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      {model.error !== null && list.length > 0 && (
        <div className="jp-Templates-executionsError" role="alert">
          {model.error}
        </div>
      )}
      {state}
      {list.length > 0 && (
        <ul
          className="jp-Templates-executionList"
          aria-label={trans.__('Executions')}
        >
          {list.map(execution => (
            <ExecutionRow
              key={execution.execution_id}
              execution={execution}
              onCancel={item => void cancel(item)}
              onViewLog={item => void viewLog(item)}
              onRerun={item => void rerun(item)}
              focused={execution.execution_id === props.focusId}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * The body of the "run again" dialog of a run that had secrets: a password
 * field per secret; its value is the secrets by name.
 */
class SecretsBody
  extends Widget
  implements Dialog.IBodyWidget<Record<string, string>>
{
  constructor(names: string[], label: (name: string) => string) {
    super();
    this.addClass('jp-Templates-secretsDialog');
    for (const name of names) {
      const field = document.createElement('label');
      field.className = 'jp-Templates-field';
      const text = document.createElement('span');
      text.className = 'jp-Templates-label';
      text.textContent = label(name);
      const input = document.createElement('input');
      input.type = 'password';
      input.name = `secret:${name}`;
      input.autocomplete = 'off';
      input.className = 'jp-mod-styled';
      field.append(text, input);
      this.node.appendChild(field);
      this._inputs[name] = input;
    }
  }

  getValue(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [name, input] of Object.entries(this._inputs)) {
      values[name] = input.value;
    }
    return values;
  }

  private _inputs: Record<string, HTMLInputElement> = {};
}
