/**
 * Types of the templates service's REST API, mirroring its OpenAPI document
 * (`jupyterhub_templates/service/openapi.py`, served at `<base>/openapi.json`).
 *
 * Field names are the service's (snake_case) on purpose: these are the JSON
 * bodies as they travel. Plain `type` aliases (not interfaces) keep the names of
 * the OpenAPI schemas.
 */

/**
 * The type the service inferred for a template parameter.
 */
export type ParameterType =
  'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'any';

/**
 * A parameter of a template, inferred from its `parameters` cell.
 */
export type TemplateParameter = {
  name: string;
  type: ParameterType;
  /** The type annotation's source text, when there is one (e.g. `Optional[int]`). */
  annotation?: string;
  /** The default's source text (e.g. `'0.5'`, `'None'`, `'"iris"'`). */
  default: string;
  /** The default as JSON, when it is a literal (`null` for `None` or non-literals). */
  default_value?: unknown;
  /** The comment next to the parameter. */
  help: string;
  /** Marked secret: given in a run's `secrets`, never written into a notebook. */
  secret?: boolean;
};

/**
 * A template (current version), as listed.
 */
export type Template = {
  /** `<category>/<file>.ipynb`, e.g. `ml/automl_template.ipynb`. */
  name: string;
  category: string;
  filename: string;
  description: string;
  size: number;
  sha256: string;
  kernel_name: string;
  parameters: TemplateParameter[];
  version: number;
  uploader?: string;
  created_at?: string;
  last_modified: string;
};

/**
 * One stored version of a template.
 */
export type TemplateVersion = {
  version: number;
  size: number;
  sha256: string;
  kernel_name?: string;
  description?: string;
  uploader?: string;
  created_at: string;
};

/**
 * A template with its versions and, on request, its notebook.
 */
export type TemplateDetail = Template & {
  current_version: number;
  versions: TemplateVersion[];
  /** The notebook (nbformat 4), when asked for with `content: true`. */
  content?: Record<string, unknown>;
};

export type TemplateSort =
  'name' | 'category' | 'size' | 'last_modified' | 'created';

export type SortOrder = 'asc' | 'desc';

/**
 * One page of templates.
 */
export type TemplatePage = {
  status?: 'success';
  templates: Template[];
  /** How many templates match, over all pages. */
  total: number;
  /** How many are in this page. */
  count: number;
  limit: number;
  offset: number;
};

/**
 * A category with its number of templates.
 */
export type Category = {
  name: string;
  count: number;
};

/**
 * The answer to an upload.
 */
export type UploadResult = {
  status: 'success';
  message?: string;
  template_name: string;
  /** 1 for a new template, more for a new version. */
  version: number;
  template: Template;
};

/**
 * The answer to a delete.
 */
export type DeleteResult = {
  status: 'success';
  message?: string;
  template_name: string;
  deleted_versions: number;
};

/**
 * A time-limited download URL for a template's notebook.
 */
export type DownloadUrl = {
  status: 'success';
  template_name: string;
  version: number;
  url: string;
  expires_in: number;
  expires_at: string;
};

/**
 * The body of `POST /create-from-template`.
 */
export type CreateRequest = {
  template_name: string;
  /** Folder relative to the server's root; created if missing. */
  target_directory?: string;
  /** A file name without folders; `.ipynb` is added when missing. */
  new_name?: string;
  parameters?: Record<string, unknown>;
  /** Another user: needs access to their server in JupyterHub. */
  username?: string;
  allow_unknown?: boolean;
  overwrite?: boolean;
  version?: number;
  description?: string;
};

/**
 * The answer to `POST /create-from-template`.
 */
export type CreateResult = {
  status: 'success';
  /** The notebook's path relative to the user's server root. */
  new_notebook_path: string;
  parameters_applied: Record<string, unknown>;
  notebook_url: string;
  notebook_id: number;
  username?: string;
  template_name?: string;
  template_version?: number;
};

/**
 * The body of `POST /execute-notebook`.
 */
export type ExecuteRequest = {
  notebook_path: string;
  /** Another user: needs access to their server in JupyterHub. */
  username?: string;
  /** Default `mlflow_kernel`. */
  kernel_name?: string;
  parameters?: Record<string, unknown>;
  /** Where the executed notebook goes; default `<name>-run-<id>.ipynb` beside the input. */
  output_path?: string;
  /** Seconds, > 0. */
  timeout?: number;
  experiment_name?: string;
  /** Replace a notebook already at `output_path` (409 otherwise). */
  overwrite?: boolean;
  /** Secret parameters: reach the kernel through the run's environment only. */
  secrets?: Record<string, string>;
};

export type ExecutionStatus =
  'pending' | 'running' | 'success' | 'failed' | 'cancelled';

/**
 * The statuses after which an execution no longer changes (the service's
 * `statuses.FINAL`; `tests/test_ts_types.py` keeps the two equal).
 */
export const FINAL_STATUSES: ReadonlyArray<ExecutionStatus> = [
  'success',
  'failed',
  'cancelled'
];

export type ExecutionProgress = {
  cells_done: number;
  cells_total: number;
  current_cell?: number | null;
  percent?: number;
};

export type ExecutionErrorReason =
  | 'cell error'
  | 'kernel died'
  | 'timeout'
  | 'kernel not found'
  | 'server stopped'
  | 'memory limit'
  | 'cpu limit'
  | 'error';

export type ExecutionError = {
  reason: ExecutionErrorReason;
  /** The exception's name, e.g. `ValueError`. */
  name?: string | null;
  message?: string | null;
  cell_index?: number | null;
};

export type MLflowRun = {
  run_id: string;
  run_name?: string | null;
  experiment_id: string;
  experiment_name?: string | null;
  status?: string | null;
  start_time?: string | null;
  end_time?: string | null;
  /** Latest value per metric; null when not finite (NaN). */
  metrics: Record<string, number | null>;
  parent_run_id?: string | null;
  /** A link to the run in the MLflow UI. */
  url: string;
};

export type ExecutionMLflow = {
  experiment_name?: string | null;
  runs?: MLflowRun[];
  /** The run has ended and its MLflow runs are still being looked up. */
  pending?: boolean;
};

/**
 * An execution of a notebook.
 */
export type Execution = {
  execution_id: number;
  status: ExecutionStatus;
  notebook_path: string;
  start_time: string;
  end_time: string | null;
  /** Human text, e.g. `5m 30s`. */
  duration: string | null;
  username?: string;
  /** The user's server that runs it: empty for the default one, else the run server. */
  server_name?: string;
  /** The executed notebook's path, relative to the user's server root. */
  output_path: string;
  in_place?: boolean;
  template_name?: string | null;
  kernel_name?: string;
  parameters?: Record<string, unknown>;
  timeout?: number | null;
  started_running?: string | null;
  progress: ExecutionProgress;
  error: ExecutionError | null;
  mlflow: ExecutionMLflow;
  status_url: string;
  log_url?: string;
  notebook_url?: string;
  /** The template version the notebook was created from. */
  template_version?: number | null;
  /** 1 for a run asked for, one more for each retry. */
  attempt?: number;
  /** The execution this one runs again (`POST /execution/{id}/rerun`). */
  rerun_of?: number | null;
  /** The failed attempt this retry repeats. */
  retry_of?: number | null;
  /** When this failed run's next attempt starts; null when it gets none. */
  retry_at?: string | null;
  retries?: RetryPolicy | null;
  notify?: NotifyPolicy | null;
  /** The names of the secrets the run was given (never their values). */
  secrets?: string[];
  /** The kernel's limits it asked for (a retry or a rerun asks them again). */
  limits?: Limits | null;
};

/**
 * The answer to `POST /execute-notebook` (202).
 */
export type ExecutionStarted = {
  status: ExecutionStatus;
  execution_id: number;
  notebook_url: string;
  status_url: string;
  output_path: string;
  execution?: Execution;
};

/**
 * A page of executions, newest first.
 */
export type ExecutionPage = {
  executions: Execution[];
  total: number;
  limit: number;
  offset: number;
  /** Executions on this page: fewer than `limit` when the page reached its size bound. */
  count: number;
  /** Where the next page starts; null after the last. */
  next_offset: number | null;
};

/**
 * A piece of an execution's log.
 */
export type ExecutionLog = {
  execution_id: number;
  status?: ExecutionStatus;
  offset: number;
  /** Pass it as the next `offset` to get what follows. */
  next_offset: number;
  log: string;
  truncated?: boolean;
};

/**
 * Whether a run's end is told for every end or for failures only.
 */
export type NotifyOn = 'finish' | 'failure';

/**
 * Where a run's end is told. Answers show a webhook's scheme and host only.
 */
export type NotifyPolicy = {
  email?: string[];
  on?: NotifyOn;
  webhook?: string | null;
};

/**
 * Try a failed run again when it failed for a reason that can pass.
 */
export type RetryPolicy = {
  /** Attempts after the first. */
  max: number;
  /** Seconds before the first retry; each further one waits twice as long. */
  backoff?: number;
  on_timeout?: boolean;
};

/**
 * Limits for a run's kernel (RLIMIT_AS, RLIMIT_CPU), at most the service's.
 */
export type Limits = { cpu_seconds?: number; memory_mb?: number };

/**
 * The body of `POST /execution/{id}/rerun`: what changes (the rest is the run's own).
 */
export type RerunRequest = {
  /** Parameters to change; the others are the run's own. */
  parameters?: Record<string, unknown>;
  output_path?: string;
  overwrite?: boolean;
  timeout?: number;
  retries?: RetryPolicy | null;
  notify?: NotifyPolicy | null;
  /** Secret values are never stored: a rerun of a run with secrets gives them again. */
  secrets?: Record<string, string>;
  /** Default: the run's own. */
  limits?: Limits;
};

/**
 * What a slot does while the job's previous run still runs: skipped, or queued
 * until that run ends.
 */
export type JobOverlap = 'skip' | 'queue';

/**
 * Slots missed while the service was down: one run for them, or none.
 */
export type JobMissed = 'once' | 'skip';

/**
 * A job run's state; a `dispatched` run has an execution, whose status says how
 * it went.
 */
export type JobRunState =
  'queued' | 'dispatching' | 'dispatched' | 'skipped' | 'failed';

/**
 * One run of a job: a slot of its schedule, or a run asked for (`slot` null).
 */
export type JobRun = {
  id: number;
  job_id: number;
  /** The slot it fired for; null for a run asked for. */
  slot: string | null;
  state: JobRunState;
  /** Why it was skipped or failed. */
  message: string | null;
  notebook_path: string | null;
  execution_id: number | null;
  /** The run's execution (its latest attempt); absent until it has one. */
  execution?: Execution;
  created_at: string;
};

/**
 * A job: a template to make a notebook from and run in place, when asked or on a
 * cron schedule in a time zone.
 */
export type Job = {
  id: number;
  name: string;
  owner: string;
  template_name: string;
  /** A pinned version; null: the template's current one at each run. */
  template_version: number | null;
  parameters: Record<string, unknown>;
  /** Folder of the runs' notebooks, relative to the server's root. */
  target_directory: string;
  /** Placeholders `{job}`, `{date}`, `{time}`, `{datetime}`, `{run}`. */
  name_pattern: string;
  kernel_name: string | null;
  timeout: number | null;
  /** The kernel's limits for each run; null: the service's. */
  limits: Limits | null;
  retries: RetryPolicy | null;
  notify: NotifyPolicy | null;
  /** A cron expression; null: runs only when asked. */
  schedule: string | null;
  /** An IANA time zone name, e.g. `Europe/Berlin`. */
  timezone: string;
  /** false: paused, the schedule fires nothing. */
  active: boolean;
  overlap: JobOverlap;
  missed: JobMissed;
  /** The next slot; null when paused or unscheduled. */
  next_run_at: string | null;
  /** The newest run; absent before the first. */
  last_run?: JobRun;
  created_at: string;
  updated_at: string;
};

/**
 * The body of `POST /jobs` (and of `PATCH /jobs/{id}`, with the fields to change).
 */
export type JobRequest = {
  name?: string;
  template_name?: string;
  template_version?: number | null;
  parameters?: Record<string, unknown>;
  target_directory?: string;
  name_pattern?: string;
  kernel_name?: string | null;
  timeout?: number | null;
  limits?: Limits | null;
  retries?: RetryPolicy | null;
  notify?: NotifyPolicy | null;
  schedule?: string | null;
  timezone?: string;
  overlap?: JobOverlap;
  missed?: JobMissed;
  active?: boolean;
  /** Act for another user: needs access to their server in JupyterHub. */
  username?: string;
};

/**
 * A page of jobs, newest first.
 */
export type JobPage = {
  jobs: Job[];
  total: number;
  limit: number;
  offset: number;
  count: number;
  /** Where the next page starts; null after the last. */
  next_offset: number | null;
};

/**
 * A page of a job's runs, newest first.
 */
export type JobRunPage = {
  runs: JobRun[];
  total: number;
  limit: number;
  offset: number;
  count: number;
  next_offset: number | null;
};

/**
 * `GET /`: who the caller is.
 */
export type WhoAmI = {
  service: string;
  version: string;
  user: string;
  /** Holds `custom:templates:admin` (may upload and delete). */
  templates_admin?: boolean;
  links?: Record<string, string>;
};

/**
 * Every error answer's body.
 */
export type ApiErrorBody = {
  status: 'error';
  message: string;
  details?: unknown;
  /** The request body's member the error is about, e.g. `new_name`. */
  field?: string;
};
