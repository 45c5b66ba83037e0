import { Notification } from '@jupyterlab/apputils';
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  TemplatesApiError,
  type Job,
  type JobMissed,
  type JobOverlap,
  type Template
} from '../api';
import { folderProblem, normalizeFolder } from '../form';
import {
  CRON_EXAMPLES,
  DEFAULT_NAME_PATTERN,
  browserTimeZone,
  cronProblem,
  describeCron,
  formatRunTime,
  jobErrorField,
  knownTimeZones,
  suggestedJobName,
  type JobField
} from '../jobs';
import { confirmDestructive, discardJobDialog } from './confirm';
import { useTemplatesContext } from './context';
import { errorMessage } from './executionsModel';
import { pathErrorText } from './messages';
import { TextField } from './TextField';

/**
 * The parameters of the template form, checked; null when some are invalid
 * (the template form then shows why).
 */
export type CollectParameters = () => {
  parameters: Record<string, unknown>;
  secrets: Record<string, string>;
} | null;

/**
 * The input names of the job form's fields (distinct from the template form's).
 */
const INPUT: Record<JobField, string> = {
  name: 'job_name',
  schedule: 'job_schedule',
  timezone: 'job_timezone',
  overlap: 'job_overlap',
  missed: 'job_missed',
  target_directory: 'job_target_directory',
  name_pattern: 'job_name_pattern'
};

const TIMEZONES_LIST = 'jp-Templates-timezones';

/**
 * "Schedule…": an inline form that defines a job from the template with the
 * template form's parameters (`POST /jobs`). The service's refusals are shown
 * next to the field they name.
 */
export function JobForm(props: {
  template: Template;
  /** The template form's target folder when the form was opened. */
  folder: string;
  collectParameters: CollectParameters;
  /** Place the service's per-parameter refusals on the template form. */
  onParameterErrors: (errors: Record<string, string>) => void;
  onCancel: () => void;
  onCreated: (job: Job) => void;
}): JSX.Element {
  const { template, collectParameters, onParameterErrors, onCancel } = props;
  const { client, trans } = useTemplatesContext();
  const [name, setName] = React.useState(() =>
    suggestedJobName(template.filename)
  );
  const [schedule, setSchedule] = React.useState('0 3 * * *');
  const [timezone, setTimezone] = React.useState(browserTimeZone);
  const [overlap, setOverlap] = React.useState<JobOverlap>('skip');
  const [missed, setMissed] = React.useState<JobMissed>('once');
  const [folder, setFolder] = React.useState(props.folder);
  const [pattern, setPattern] = React.useState(DEFAULT_NAME_PATTERN);
  const [errors, setErrors] = React.useState<Partial<Record<JobField, string>>>(
    {}
  );
  const [formError, setFormError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const nameRef = React.useRef<HTMLInputElement>(null);
  const sectionRef = React.useRef<HTMLElement>(null);
  const timezones = React.useMemo(knownTimeZones, []);
  const entered = {
    name,
    schedule,
    timezone,
    overlap,
    missed,
    folder,
    pattern
  };
  const initial = React.useRef(entered);

  // Cancel asks first when the form holds something the user entered.
  const cancel = async (): Promise<void> => {
    const changed = (Object.keys(entered) as Array<keyof typeof entered>).some(
      key => entered[key] !== initial.current[key]
    );
    if (changed && !(await confirmDestructive(discardJobDialog(trans)))) {
      return;
    }
    onCancel();
  };

  React.useEffect(() => {
    sectionRef.current?.scrollIntoView?.({ block: 'nearest' });
    nameRef.current?.focus();
  }, []);

  const change =
    (field: JobField, set: (value: string) => void) =>
    (value: string): void => {
      set(value);
      if (errors[field]) {
        const remaining = { ...errors };
        delete remaining[field];
        setErrors(remaining);
        if (Object.keys(remaining).length === 0) {
          setFormError(null);
        }
      }
    };

  const focusField = (field: JobField): void => {
    const element = sectionRef.current?.querySelector<HTMLElement>(
      `[name="${INPUT[field]}"]`
    );
    element?.focus();
  };

  const submit = async (): Promise<void> => {
    setFormError(null);
    if (!client) {
      return;
    }
    const found: Partial<Record<JobField, string>> = {};
    if (!name.trim()) {
      found.name = trans.__('A name is required.');
    }
    if (schedule.trim() && cronProblem(schedule)) {
      found.schedule = trans.__(
        'A cron expression has five fields (minute hour day month weekday), or six with seconds last.'
      );
    }
    if (!timezone.trim()) {
      found.timezone = trans.__('A time zone is required, e.g. Europe/Berlin.');
    }
    const targetProblem = folderProblem(folder.trim());
    if (targetProblem) {
      found.target_directory = pathErrorText(trans, targetProblem);
    }
    const checked = collectParameters();
    setErrors(found);
    const first = JOB_ORDER.find(field => field in found);
    if (first || !checked) {
      setFormError(trans.__('Please correct the highlighted fields.'));
      if (first) {
        focusField(first);
      }
      return;
    }
    setBusy(true);
    let job: Job;
    try {
      job = await client.createJob({
        name: name.trim(),
        template_name: template.name,
        parameters: checked.parameters,
        schedule: schedule.trim() || null,
        timezone: timezone.trim(),
        overlap,
        missed,
        target_directory: normalizeFolder(folder.trim()),
        name_pattern: pattern.trim() || DEFAULT_NAME_PATTERN
      });
    } catch (reason) {
      setBusy(false);
      showServiceError(reason);
      return;
    }
    setBusy(false);
    if (Object.keys(checked.secrets).length > 0) {
      Notification.warning(
        trans.__(
          "A job's runs get no secret values: the secret parameters keep their defaults."
        ),
        { autoClose: 8000 }
      );
    }
    Notification.success(
      job.next_run_at
        ? trans.__(
            'Scheduled "%1"; next run %2',
            job.name,
            formatRunTime(job.next_run_at)
          )
        : trans.__('Defined "%1"; it runs when asked', job.name),
      { autoClose: 5000 }
    );
    props.onCreated(job);
  };

  const showServiceError = (reason: unknown): void => {
    const message = errorMessage(reason);
    if (reason instanceof TemplatesApiError) {
      const perParameter = reason.fieldErrors;
      if (Object.keys(perParameter).length > 0) {
        onParameterErrors(perParameter);
        setFormError(message);
        return;
      }
      const field = reason.status === 400 ? jobErrorField(message) : null;
      if (field) {
        setErrors({ [field]: message });
        setFormError(null);
        focusField(field);
        return;
      }
    }
    setFormError(message);
  };

  const description = describeCron(schedule, trans);
  return (
    <section
      ref={sectionRef}
      className="jp-Templates-jobForm"
      aria-label={trans.__('Schedule a job')}
    >
      <h3 className="jp-Templates-sectionTitle">
        {trans.__('Schedule a job')}
      </h3>
      <p className="jp-Templates-help">
        {trans.__(
          'A job makes a new notebook from this template with the parameters above, and runs it, on the schedule below and whenever you choose Run now in the Jobs tab.'
        )}
      </p>
      <TextField
        name={INPUT.name}
        label={trans.__('Job name')}
        value={name}
        error={errors.name}
        disabled={busy}
        inputRef={nameRef}
        onChange={change('name', setName)}
      />
      <TextField
        name={INPUT.schedule}
        label={trans.__('Schedule (cron)')}
        help={trans.__(
          'Five fields: minute hour day-of-month month weekday (0 or 7 is Sunday), in the time zone below; * means every, */n every n-th, 1-5 a range. Leave empty to run only when asked.'
        )}
        value={schedule}
        placeholder="0 3 * * *"
        error={errors.schedule}
        disabled={busy}
        onChange={change('schedule', setSchedule)}
      >
        <div className="jp-Templates-cronSummary" aria-live="polite">
          {schedule.trim()
            ? (description ?? trans.__('Runs as the cron expression says.'))
            : trans.__('No schedule: runs only when asked.')}
        </div>
        <div
          className="jp-Templates-cronExamples"
          role="group"
          aria-label={trans.__('Examples')}
        >
          <span>{trans.__('Examples:')}</span>
          {CRON_EXAMPLES.map(example => (
            <button
              key={example}
              type="button"
              className="jp-Templates-cronExample"
              title={describeCron(example, trans) ?? example}
              disabled={busy}
              onClick={() => change('schedule', setSchedule)(example)}
            >
              <code>{example}</code>
            </button>
          ))}
        </div>
      </TextField>
      <TextField
        name={INPUT.timezone}
        label={trans.__('Time zone')}
        help={trans.__(
          "An IANA name such as Europe/Berlin or UTC; your browser's by default."
        )}
        value={timezone}
        list={timezones.length > 0 ? TIMEZONES_LIST : undefined}
        error={errors.timezone}
        disabled={busy}
        onChange={change('timezone', setTimezone)}
      />
      {timezones.length > 0 && (
        <datalist id={TIMEZONES_LIST}>
          {timezones.map(zone => (
            <option key={zone} value={zone} />
          ))}
        </datalist>
      )}
      <SelectField
        name={INPUT.overlap}
        label={trans.__('When the previous run still runs')}
        value={overlap}
        error={errors.overlap}
        disabled={busy}
        options={[
          ['skip', trans.__('Skip the new run')],
          ['queue', trans.__('Queue it')]
        ]}
        onChange={value => change('overlap', () => setOverlap(value))(value)}
      />
      <SelectField
        name={INPUT.missed}
        label={trans.__('Runs missed while the service was down')}
        value={missed}
        error={errors.missed}
        disabled={busy}
        options={[
          ['once', trans.__('Run once for them')],
          ['skip', trans.__('Skip them')]
        ]}
        onChange={value => change('missed', () => setMissed(value))(value)}
      />
      <TextField
        name={INPUT.target_directory}
        label={trans.__('Target folder')}
        help={trans.__(
          "Where each run's notebook goes, relative to your home folder; empty for the root."
        )}
        value={folder}
        error={errors.target_directory}
        disabled={busy}
        onChange={change('target_directory', setFolder)}
      />
      <TextField
        name={INPUT.name_pattern}
        label={trans.__('Notebook name pattern')}
        help={trans.__(
          "{job}, {date}, {time}, {datetime} (in the job's time zone) and {run} are replaced."
        )}
        value={pattern}
        error={errors.name_pattern}
        disabled={busy}
        onChange={change('name_pattern', setPattern)}
      />
      {formError !== null && (
        <div className="jp-Templates-formError" role="alert">
          {formError}
        </div>
      )}
      <div className="jp-Templates-actions">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || !client}
          onClick={() => void submit()}
        >
          {trans.__('Schedule')}
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          disabled={busy}
          onClick={() => void cancel()}
        >
          {trans.__('Cancel')}
        </button>
        {busy && (
          <span className="jp-Templates-busy" role="status">
            {trans.__('Defining the job…')}
          </span>
        )}
      </div>
    </section>
  );
}

/**
 * The fields in the order they are shown (the first invalid one gets focus).
 */
const JOB_ORDER: JobField[] = [
  'name',
  'schedule',
  'timezone',
  'overlap',
  'missed',
  'target_directory',
  'name_pattern'
];

/**
 * A labelled `<select>` in Lab's style, with its error.
 */
function SelectField<T extends string>(props: {
  name: string;
  label: string;
  value: T;
  options: Array<[T, string]>;
  error?: string;
  disabled?: boolean;
  onChange: (value: T) => void;
}): JSX.Element {
  const { name, label, value, options, error, disabled, onChange } = props;
  const id = `jp-Templates-field-${name}`;
  return (
    <div className="jp-Templates-field">
      <label htmlFor={id} className="jp-Templates-label">
        {label}
      </label>
      <HTMLSelect
        id={id}
        name={name}
        value={value}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        options={options.map(([option, text]) => ({
          value: option,
          label: text
        }))}
        onChange={event => onChange(event.target.value as T)}
      />
      {error && (
        <div
          id={`${id}-error`}
          className="jp-Templates-fieldError"
          data-field={name}
          role="alert"
        >
          {error}
        </div>
      )}
    </div>
  );
}
