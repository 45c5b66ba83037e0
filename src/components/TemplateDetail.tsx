import { Notification } from '@jupyterlab/apputils';
import { caretLeftIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  TemplatesApiError,
  type CreateResult,
  type Job,
  type Template
} from '../api';
import {
  folderProblem,
  freeNotebookName,
  initialValue,
  normalizeFolder,
  notebookNameProblem,
  validateForm,
  type FormValue
} from '../form';
import { type IFileExists, useTemplatesContext } from './context';
import { errorMessage } from './executionsModel';
import { absoluteTime, relativeTime } from './format';
import { formErrorText, pathErrorText } from './messages';
import { JobForm, type CollectParameters } from './JobForm';
import { FieldError, ParameterField } from './ParameterField';
import { placeServiceError } from './serviceErrors';
import { TextField } from './TextField';
import { useDebounced } from './useDebounced';

/**
 * The form fields that are not parameters.
 */
const TARGET_FIELD = 'target_directory';
const NAME_FIELD = 'new_name';
const OVERWRITE_FIELD = 'overwrite';

/**
 * How long the proposal of a free name waits for more typing in the target
 * folder (ms).
 */
const NAME_PROPOSAL_DELAY = 300;

/**
 * Whether `path` exists in the user's server, through Lab's contents manager:
 * `false` only for a 404 (another failure rejects).
 */
async function fileExists(
  contents: IFileExists,
  path: string
): Promise<boolean> {
  try {
    await contents.get(path, { content: false });
    return true;
  } catch (reason) {
    const status = (reason as { response?: { status?: number } })?.response
      ?.status;
    if (status === 404) {
      return false;
    }
    throw reason;
  }
}

/**
 * A template's detail view: what it is, and the form that creates (and runs)
 * a notebook from it.
 */
export function TemplateDetail(props: {
  template: Template;
  onBack: () => void;
  onRunStarted: () => void;
  /** A job was defined from the template with "Schedule…". */
  onJobCreated: (job: Job) => void;
}): JSX.Element {
  const { template, onBack, onRunStarted, onJobCreated } = props;
  const {
    client,
    trans,
    openPath,
    openCreated,
    currentFolder,
    executions,
    contents
  } = useTemplatesContext();
  const params = template.parameters;
  const [values, setValues] = React.useState<Record<string, FormValue>>(() => {
    const initial: Record<string, FormValue> = {};
    for (const param of params) {
      initial[param.name] = initialValue(param);
    }
    return initial;
  });
  const [target, setTarget] = React.useState(() => currentFolder());
  const [newName, setNewName] = React.useState(template.filename);
  // whether the user typed the name (then it is never replaced by a proposal)
  const [nameEdited, setNameEdited] = React.useState(false);
  // a new proposal is made after each notebook created
  const [createdCount, setCreatedCount] = React.useState(0);
  const [overwrite, setOverwrite] = React.useState(false);
  // number fields whose text the browser could not read (e.g. 1e999)
  const [badInputs, setBadInputs] = React.useState<ReadonlySet<string>>(
    () => new Set()
  );
  const [fieldErrors, setFieldErrors] = React.useState<Record<string, string>>(
    {}
  );
  const [formError, setFormError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState<'create' | 'run' | null>(null);
  // The folder the job form starts with, while it is open.
  const [scheduling, setScheduling] = React.useState<string | null>(null);
  const formRef = React.useRef<HTMLFormElement>(null);
  const backRef = React.useRef<HTMLButtonElement>(null);

  React.useEffect(() => {
    backRef.current?.focus();
  }, []);

  // Focus the first invalid field once the errors are rendered (and the
  // fields enabled again).
  const [focusRequest, setFocusRequest] = React.useState<{
    errors: Record<string, string>;
  } | null>(null);
  React.useEffect(() => {
    const form = formRef.current;
    if (!focusRequest || !form) {
      return;
    }
    for (const element of Array.from(form.elements)) {
      const name = (element as HTMLInputElement).name ?? '';
      const field = name.startsWith('param:') ? name.slice(6) : name;
      if (field in focusRequest.errors) {
        (element as HTMLElement).focus();
        return;
      }
    }
  }, [focusRequest]);

  const focusFirstError = (errors: Record<string, string>): void => {
    setFocusRequest({ errors });
  };

  // Propose a name that is free in the target folder (the template's file
  // name, else name-1.ipynb, name-2.ipynb, ...), until the user types one.
  const folderForName = useDebounced(
    normalizeFolder(target.trim()),
    NAME_PROPOSAL_DELAY
  );
  React.useEffect(() => {
    if (!contents || nameEdited || folderProblem(folderForName) !== null) {
      return;
    }
    let current = true;
    const prefix = folderForName ? `${folderForName}/` : '';
    freeNotebookName(template.filename, name =>
      fileExists(contents, prefix + name)
    )
      .then(name => {
        if (current && name !== null) {
          setNewName(name);
        }
      })
      .catch(() => {
        // the server cannot tell: keep the name shown; the service checks
      });
    return () => {
      current = false;
    };
  }, [contents, nameEdited, folderForName, template.filename, createdCount]);

  const submit = async (run: boolean): Promise<void> => {
    setFormError(null);
    if (!client) {
      return;
    }
    const checked = validateForm(params, values, badInputs);
    const errors: Record<string, string> = {};
    for (const [name, code] of Object.entries(checked.codes)) {
      errors[name] = formErrorText(trans, code);
    }
    const targetProblem = folderProblem(target.trim());
    if (targetProblem) {
      errors[TARGET_FIELD] = pathErrorText(trans, targetProblem);
    }
    const nameProblem = notebookNameProblem(newName);
    if (nameProblem) {
      errors[NAME_FIELD] = pathErrorText(trans, nameProblem);
    }
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) {
      setFormError(trans.__('Please correct the highlighted fields.'));
      focusFirstError(errors);
      return;
    }

    setBusy(run ? 'run' : 'create');
    let created: CreateResult;
    try {
      created = await client.createFromTemplate({
        template_name: template.name,
        target_directory: normalizeFolder(target.trim()),
        new_name: newName,
        parameters: checked.parameters,
        overwrite
      });
    } catch (reason) {
      setBusy(null);
      showServiceError(reason);
      return;
    }
    setBusy(null);
    setNameEdited(false);
    setCreatedCount(count => count + 1); // the name is taken now: propose the next
    const path = created.new_notebook_path;
    const secrets = checked.secrets;
    if (!run) {
      Notification.success(trans.__('Created %1', path), { autoClose: 5000 });
      if (Object.keys(secrets).length > 0) {
        Notification.warning(
          trans.__(
            'Secret values are given to a run only: use Create and run to pass them.'
          ),
          { autoClose: 8000 }
        );
      }
      (openCreated ?? openPath)(path);
      return;
    }
    Notification.info(trans.__('Created %1; starting the run…', path), {
      autoClose: 5000
    });
    onRunStarted();
    executions
      .start(() =>
        client.executeNotebook(
          Object.keys(secrets).length > 0
            ? { notebook_path: path, secrets }
            : { notebook_path: path }
        )
      )
      .catch(reason => {
        Notification.error(
          trans.__('Could not run %1: %2', path, errorMessage(reason))
        );
      });
  };

  const collectParameters: CollectParameters = () => {
    const checked = validateForm(params, values, badInputs);
    const errors: Record<string, string> = {};
    for (const [name, code] of Object.entries(checked.codes)) {
      errors[name] = formErrorText(trans, code);
    }
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) {
      setFormError(trans.__('Please correct the highlighted parameters.'));
      focusFirstError(errors);
      return null;
    }
    setFormError(null);
    return { parameters: checked.parameters, secrets: checked.secrets };
  };

  const showParameterErrors = (perField: Record<string, string>): void => {
    const errors: Record<string, string> = {};
    const unplaced: string[] = [];
    for (const [name, message] of Object.entries(perField)) {
      if (params.some(param => param.name === name)) {
        errors[name] = message;
      } else {
        unplaced.push(`${name}: ${message}`);
      }
    }
    setFieldErrors(errors);
    setFormError(unplaced.length > 0 ? unplaced.join('\n') : null);
    focusFirstError(errors);
  };

  const showServiceError = (reason: unknown): void => {
    if (reason instanceof TemplatesApiError) {
      // the service's words ("new_name", "set overwrite") in the form's own,
      // at the field the answer names
      const placed = placeServiceError(
        trans,
        reason,
        {
          [TARGET_FIELD]: trans.__('Target folder'),
          [NAME_FIELD]: trans.__('New name'),
          [OVERWRITE_FIELD]: trans.__('Overwrite an existing file')
        },
        params.map(param => param.name)
      );
      setFieldErrors(placed.fields);
      setFormError(placed.summary);
      focusFirstError(placed.fields);
    } else {
      setFormError(errorMessage(reason));
    }
  };

  const setValue = (name: string, value: FormValue, badInput = false): void => {
    setValues(old => ({ ...old, [name]: value }));
    setBadInputs(old => {
      if (old.has(name) === badInput) {
        return old;
      }
      const next = new Set(old);
      if (badInput) {
        next.add(name);
      } else {
        next.delete(name);
      }
      return next;
    });
    clearError(name);
  };

  const clearError = (name: string): void => {
    if (name in fieldErrors) {
      const remaining = { ...fieldErrors };
      delete remaining[name];
      setFieldErrors(remaining);
      if (Object.keys(remaining).length === 0) {
        // every highlighted field is fixed: the summary no longer applies
        setFormError(null);
      }
    }
  };

  return (
    <div className="jp-Templates-detail">
      <div className="jp-Templates-detailHeader">
        <button
          ref={backRef}
          type="button"
          className="jp-Templates-back jp-Button jp-mod-minimal"
          aria-label={trans.__('Back to templates')}
          title={trans.__('Back to templates')}
          onClick={onBack}
        >
          <caretLeftIcon.react tag="span" elementSize="normal" />
          <span>{trans.__('Templates')}</span>
        </button>
        <h2 className="jp-Templates-detailTitle">{template.filename}</h2>
      </div>
      <p className="jp-Templates-detailDescription">
        {template.description || trans.__('No description')}
      </p>
      <dl className="jp-Templates-detailMeta">
        <dt>{trans.__('Category')}</dt>
        <dd>{template.category}</dd>
        <dt>{trans.__('Kernel')}</dt>
        <dd>{template.kernel_name}</dd>
        <dt>{trans.__('Version')}</dt>
        <dd>{template.version}</dd>
        <dt>{trans.__('Modified')}</dt>
        <dd title={absoluteTime(template.last_modified)}>
          {relativeTime(template.last_modified)}
        </dd>
      </dl>
      <form
        ref={formRef}
        className="jp-Templates-form"
        noValidate
        aria-busy={busy !== null}
        onSubmit={event => {
          event.preventDefault();
          void submit(false);
        }}
      >
        <fieldset className="jp-Templates-fieldset">
          <legend>{trans.__('Parameters')}</legend>
          {params.length === 0 && (
            <p className="jp-Templates-noParams">
              {trans.__('This template has no parameters.')}
            </p>
          )}
          {params.map(param => (
            <ParameterField
              key={param.name}
              param={param}
              value={values[param.name] ?? ''}
              error={fieldErrors[param.name]}
              disabled={busy !== null}
              onChange={(value, badInput) =>
                setValue(param.name, value, badInput)
              }
            />
          ))}
        </fieldset>
        <fieldset className="jp-Templates-fieldset">
          <legend>{trans.__('New notebook')}</legend>
          <TextField
            name={TARGET_FIELD}
            label={trans.__('Target folder')}
            help={trans.__(
              'Relative to your home folder; empty for the root. Created if missing.'
            )}
            value={target}
            error={fieldErrors[TARGET_FIELD]}
            disabled={busy !== null}
            onChange={value => {
              setTarget(value);
              clearError(TARGET_FIELD);
            }}
          />
          <TextField
            name={NAME_FIELD}
            label={trans.__('New name')}
            value={newName}
            error={fieldErrors[NAME_FIELD]}
            disabled={busy !== null}
            onChange={value => {
              setNewName(value);
              setNameEdited(true);
              clearError(NAME_FIELD);
            }}
          />
          <label className="jp-Templates-checkbox">
            <input
              type="checkbox"
              name={OVERWRITE_FIELD}
              checked={overwrite}
              disabled={busy !== null}
              aria-invalid={fieldErrors[OVERWRITE_FIELD] ? true : undefined}
              aria-describedby={
                fieldErrors[OVERWRITE_FIELD]
                  ? 'jp-Templates-field-overwrite-error'
                  : undefined
              }
              onChange={event => {
                setOverwrite(event.target.checked);
                clearError(OVERWRITE_FIELD);
                if (event.target.checked) {
                  clearError(NAME_FIELD); // ticking it answers "the file exists"
                }
              }}
            />
            <span>{trans.__('Overwrite an existing file')}</span>
          </label>
          {fieldErrors[OVERWRITE_FIELD] && (
            <FieldError
              id="jp-Templates-field-overwrite-error"
              field={OVERWRITE_FIELD}
              message={fieldErrors[OVERWRITE_FIELD]}
            />
          )}
        </fieldset>
        {formError !== null && (
          <div className="jp-Templates-formError" role="alert">
            {formError}
          </div>
        )}
        <div className="jp-Templates-actions">
          <button
            type="submit"
            className="jp-mod-styled jp-mod-accept"
            disabled={busy !== null || !client}
          >
            {trans.__('Create')}
          </button>
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept"
            disabled={busy !== null || !client}
            onClick={() => void submit(true)}
          >
            {trans.__('Create and run')}
          </button>
          <button
            type="button"
            className="jp-mod-styled jp-mod-reject"
            disabled={busy !== null || !client || scheduling !== null}
            aria-expanded={scheduling !== null}
            title={trans.__(
              'Run a notebook made from this template on a schedule'
            )}
            onClick={() => setScheduling(normalizeFolder(target.trim()))}
          >
            {trans.__('Schedule…')}
          </button>
          {busy !== null && (
            <span className="jp-Templates-busy" role="status">
              {busy === 'run'
                ? trans.__('Creating the notebook to run it…')
                : trans.__('Creating the notebook…')}
            </span>
          )}
        </div>
      </form>
      {scheduling !== null && (
        <JobForm
          template={template}
          folder={scheduling}
          collectParameters={collectParameters}
          onParameterErrors={showParameterErrors}
          onCancel={() => setScheduling(null)}
          onCreated={job => {
            setScheduling(null);
            onJobCreated(job);
          }}
        />
      )}
    </div>
  );
}
