/**
 * A typed client of the templates service's REST API.
 *
 * Plain TypeScript on `fetch`: no JupyterLab import, so that Jest runs it as is.
 * Every request sends `Accept: application/json` and, when a token is given,
 * `Authorization: token <token>` (the Hub OAuth token from PageConfig); the
 * service needs no XSRF token with it.
 */

import { FINAL_STATUSES } from './types';
import type {
  Category,
  CreateRequest,
  CreateResult,
  DeleteResult,
  DownloadUrl,
  ExecuteRequest,
  Execution,
  ExecutionLog,
  ExecutionPage,
  ExecutionStarted,
  ExecutionStatus,
  Job,
  JobPage,
  JobRequest,
  JobRun,
  JobRunPage,
  RerunRequest,
  SortOrder,
  TemplateDetail,
  TemplatePage,
  TemplateSort,
  UploadResult,
  WhoAmI
} from './types';

/**
 * The `fetch` the client uses; injectable for tests.
 */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * A query's values; `undefined` ones are left out.
 */
export type QueryParams = Record<string, string | number | boolean | undefined>;

export type TemplatesClientOptions = {
  /** The service's base URL, e.g. `/services/templates/` (a missing final `/` is added). */
  baseUrl: string;
  /** The Hub token sent as `Authorization: token <token>`; none when empty. */
  token?: string;
  /** Default: the global `fetch`. */
  fetchFn?: FetchFn;
};

export type ListTemplatesOptions = {
  category?: string;
  /** Text in the name or the description. */
  q?: string;
  /** 1 to 1000; the service's default is 100. */
  limit?: number;
  offset?: number;
  sort?: TemplateSort;
  order?: SortOrder;
};

export type GetTemplateOptions = {
  /** Include the notebook JSON as `content`. */
  content?: boolean;
  /** A version number; default the current version. */
  version?: number;
};

export type UploadOptions = {
  /** `^[A-Za-z0-9_-]{1,64}$`, e.g. `ml`. */
  category: string;
  description?: string;
  /** Store a new version when the template exists (409 otherwise). */
  overwrite?: boolean;
};

export type ListExecutionsOptions = {
  status?: ExecutionStatus;
  /** A template name. */
  template?: string;
  /** Another user's executions (admins only). */
  username?: string;
  /** Everyone's executions (admins only). */
  all?: boolean;
  /** 1 to 500. */
  limit?: number;
  offset?: number;
};

export type ListJobsOptions = {
  /** A template name. */
  template?: string;
  /** Another user's jobs (admins, or who may reach that user's server). */
  username?: string;
  /** Everyone's jobs (admins only). */
  all?: boolean;
  /** 1 to 500. */
  limit?: number;
  offset?: number;
};

/**
 * Whether an execution in `status` has ended (success, failed or cancelled).
 */
export function isFinal(status: ExecutionStatus | string): boolean {
  return (FINAL_STATUSES as ReadonlyArray<string>).indexOf(status) >= 0;
}

/**
 * What the service answers when it cannot be reached or answers something else
 * than JSON (`status` 0), or a non-2xx answer (`status` the HTTP status).
 */
export class TemplatesApiError extends Error {
  /** The HTTP status; 0 when there was no usable answer. */
  readonly status: number;
  /** The error body's `details`, e.g. `{parameters: {name: reason}}` on a 400. */
  readonly details: unknown;
  /**
   * The error body's `field`: the request body's member the error is about
   * (e.g. `new_name`), `null` when it names none.
   */
  readonly field: string | null;

  constructor(
    status: number,
    message: string,
    details?: unknown,
    field?: string | null
  ) {
    super(message);
    this.name = 'TemplatesApiError';
    this.status = status;
    this.details = details;
    this.field = typeof field === 'string' && field !== '' ? field : null;
    Object.setPrototypeOf(this, TemplatesApiError.prototype);
  }

  /**
   * The reasons per parameter name from `details.parameters` (a 400 of
   * create-from-template or execute-notebook); `{}` when there are none.
   */
  get fieldErrors(): Record<string, string> {
    const result: Record<string, string> = {};
    const details = this.details;
    if (!isObject(details) || !isObject(details.parameters)) {
      return result;
    }
    for (const [name, reason] of Object.entries(details.parameters)) {
      result[name] = typeof reason === 'string' ? reason : String(reason);
    }
    return result;
  }

  /** Whether the service could not be reached (or did not answer JSON). */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

/**
 * The message for an error answer without a JSON `message`.
 */
export function statusMessage(status: number): string {
  switch (status) {
    case 400:
      return 'The templates service refused the request as invalid (HTTP 400).';
    case 401:
    case 403:
      return `You are not allowed to do this, or your session has expired (HTTP ${status}).`;
    case 404:
      return 'Not found (HTTP 404).';
    case 409:
      return 'This conflicts with what exists (HTTP 409).';
    case 413:
      return 'The file is too large (HTTP 413).';
    case 502:
    case 503:
    case 504:
      return `The templates service is unavailable (HTTP ${status}); try again later.`;
    default:
      return `The templates service answered HTTP ${status}.`;
  }
}

/**
 * The message for an unusable answer or no answer at all (status 0).
 */
export function unreachableMessage(reason: string): string {
  return `The templates service cannot be reached (${reason}).`;
}

/**
 * `name` as URL path segments: each segment encoded, the slashes kept.
 */
export function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/**
 * A query string, with `?`, from the defined values; `''` when there are none.
 */
export function buildQuery(params: QueryParams = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) {
      search.append(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * The client. Every method resolves to the answer's JSON or rejects with a
 * {@link TemplatesApiError}.
 */
export class TemplatesClient {
  /** The base URL, ending with `/`. */
  readonly baseUrl: string;
  readonly token: string;
  private readonly _fetch: FetchFn;

  constructor(options: TemplatesClientOptions) {
    const base = options.baseUrl;
    this.baseUrl = base && !base.endsWith('/') ? `${base}/` : base;
    this.token = options.token ?? '';
    this._fetch =
      options.fetchFn ??
      ((input: string, init?: RequestInit) => fetch(input, init));
  }

  /**
   * The full URL of a path below the service, with its query.
   */
  url(path: string, query?: QueryParams): string {
    return this.baseUrl + path + buildQuery(query);
  }

  /** `GET /`: who the caller is, and whether they may upload and delete. */
  whoami(): Promise<WhoAmI> {
    return this.request<WhoAmI>('GET', '');
  }

  /** `GET /minio/list-templates`. */
  listTemplates(options: ListTemplatesOptions = {}): Promise<TemplatePage> {
    const { category, q, limit, offset, sort, order } = options;
    return this.request<TemplatePage>('GET', 'minio/list-templates', {
      query: { category, q, limit, offset, sort, order }
    });
  }

  /** `GET /minio/list-categories`: the categories with their counts. */
  async listCategories(): Promise<Category[]> {
    const answer = await this.request<{ categories?: Category[] }>(
      'GET',
      'minio/list-categories'
    );
    return answer.categories ?? [];
  }

  /** `GET /minio/get-template/<name>`. */
  async getTemplate(
    name: string,
    options: GetTemplateOptions = {}
  ): Promise<TemplateDetail> {
    const answer = await this.request<
      TemplateDetail & { template?: TemplateDetail; status?: string }
    >('GET', `minio/get-template/${encodePath(name)}`, {
      query: {
        content: options.content ? 'true' : undefined,
        version: options.version
      }
    });
    return answer.template ?? answer;
  }

  /** `GET /minio/download-url/<name>`: a time-limited download URL. */
  downloadUrl(
    name: string,
    options: { version?: number; expires?: number } = {}
  ): Promise<DownloadUrl> {
    return this.request<DownloadUrl>(
      'GET',
      `minio/download-url/${encodePath(name)}`,
      { query: { version: options.version, expires: options.expires } }
    );
  }

  /**
   * `POST /minio/upload-template` (admins): multipart with the fields `file`,
   * `filename`, `category`, and `description` / `overwrite` when given.
   */
  uploadTemplate(
    file: Blob,
    filename: string,
    options: UploadOptions
  ): Promise<UploadResult> {
    const form = new FormData();
    form.append('file', file, filename);
    form.append('filename', filename);
    form.append('category', options.category);
    if (options.description !== undefined) {
      form.append('description', options.description);
    }
    if (options.overwrite !== undefined) {
      form.append('overwrite', options.overwrite ? 'true' : 'false');
    }
    return this.request<UploadResult>('POST', 'minio/upload-template', {
      body: form
    });
  }

  /** `DELETE /minio/delete-template/<name>` (admins): every version. */
  deleteTemplate(name: string): Promise<DeleteResult> {
    return this.request<DeleteResult>(
      'DELETE',
      `minio/delete-template/${encodePath(name)}`
    );
  }

  /** `POST /create-from-template`: a notebook in the user's server. */
  createFromTemplate(request: CreateRequest): Promise<CreateResult> {
    return this.request<CreateResult>('POST', 'create-from-template', {
      json: request
    });
  }

  /** `POST /execute-notebook`: starts a run (202) and answers at once. */
  executeNotebook(request: ExecuteRequest): Promise<ExecutionStarted> {
    return this.request<ExecutionStarted>('POST', 'execute-notebook', {
      json: request
    });
  }

  /** `GET /execution-status/<id>`. */
  executionStatus(id: number): Promise<Execution> {
    return this.request<Execution>(
      'GET',
      `execution-status/${encodeURIComponent(String(id))}`
    );
  }

  /** `GET /executions`: newest first. */
  listExecutions(options: ListExecutionsOptions = {}): Promise<ExecutionPage> {
    const { status, template, username, all, limit, offset } = options;
    return this.request<ExecutionPage>('GET', 'executions', {
      query: {
        status,
        template,
        username,
        all: all === undefined ? undefined : all ? 'true' : 'false',
        limit,
        offset
      }
    });
  }

  /** `POST /execution/<id>/cancel`: the execution, cancelled. */
  cancelExecution(id: number): Promise<Execution> {
    return this.request<Execution>(
      'POST',
      `execution/${encodeURIComponent(String(id))}/cancel`
    );
  }

  /** `GET /execution/<id>/log`: the log from `offset` (bytes already read). */
  executionLog(id: number, offset?: number): Promise<ExecutionLog> {
    return this.request<ExecutionLog>(
      'GET',
      `execution/${encodeURIComponent(String(id))}/log`,
      { query: { offset } }
    );
  }

  /**
   * `POST /execution/<id>/rerun`: the same notebook, kernel, experiment, timeout
   * and parameters (`request` changes some); starts a run (202) like
   * {@link executeNotebook}.
   */
  rerunExecution(
    id: number,
    request: RerunRequest = {}
  ): Promise<ExecutionStarted> {
    return this.request<ExecutionStarted>(
      'POST',
      `execution/${encodeURIComponent(String(id))}/rerun`,
      { json: request }
    );
  }

  /** `GET /jobs`: the caller's jobs (admins: anyone's), newest first. */
  listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    const { template, username, all, limit, offset } = options;
    return this.request<JobPage>('GET', 'jobs', {
      query: {
        template,
        username,
        all: all === undefined ? undefined : all ? 'true' : 'false',
        limit,
        offset
      }
    });
  }

  /** `POST /jobs`: defines a job (201); a 400 names the first bad field. */
  createJob(request: JobRequest): Promise<Job> {
    return this.request<Job>('POST', 'jobs', { json: request });
  }

  /** `GET /jobs/<id>`: the job, with its next slot and last run. */
  getJob(id: number): Promise<Job> {
    return this.request<Job>('GET', jobPath(id));
  }

  /** `PATCH /jobs/<id>`: changes the fields given. */
  updateJob(id: number, changes: JobRequest): Promise<Job> {
    return this.request<Job>('PATCH', jobPath(id), { json: changes });
  }

  /** `DELETE /jobs/<id>` (204): the job and its history; notebooks stay. */
  async deleteJob(id: number): Promise<void> {
    await this.request<undefined>('DELETE', jobPath(id));
  }

  /** `POST /jobs/<id>/pause`: the job, paused (its schedule fires nothing). */
  pauseJob(id: number): Promise<Job> {
    return this.request<Job>('POST', `${jobPath(id)}/pause`);
  }

  /** `POST /jobs/<id>/resume`: the job, going on from the next slot after now. */
  resumeJob(id: number): Promise<Job> {
    return this.request<Job>('POST', `${jobPath(id)}/resume`);
  }

  /** `POST /jobs/<id>/run` (202): a run now, whatever the schedule. */
  runJob(id: number): Promise<JobRun> {
    return this.request<JobRun>('POST', `${jobPath(id)}/run`);
  }

  /** `GET /jobs/<id>/runs`: the job's runs, newest first, with their executions. */
  listJobRuns(
    id: number,
    options: { limit?: number; offset?: number } = {}
  ): Promise<JobRunPage> {
    return this.request<JobRunPage>('GET', `${jobPath(id)}/runs`, {
      query: { limit: options.limit, offset: options.offset }
    });
  }

  /**
   * One request: the answer's JSON (`undefined` for an empty 2xx answer), or a
   * {@link TemplatesApiError}.
   */
  async request<T>(
    method: string,
    path: string,
    options: { query?: QueryParams; json?: unknown; body?: FormData } = {}
  ): Promise<T> {
    if (!this.baseUrl) {
      throw new TemplatesApiError(
        0,
        unreachableMessage(
          'no service URL: JupyterLab does not run under JupyterHub and the serviceUrl setting is empty'
        )
      );
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.token) {
      headers['Authorization'] = `token ${this.token}`;
    }
    const init: RequestInit = {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store'
    };
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      // No Content-Type: fetch sets multipart/form-data with its boundary.
      init.body = options.body;
    }

    let response: Response;
    let text: string;
    try {
      response = await this._fetch(this.url(path, options.query), init);
      text = await response.text();
    } catch (error) {
      throw new TemplatesApiError(0, unreachableMessage(describe(error)));
    }

    let data: unknown = undefined;
    let isJson = true;
    if (text.trim() !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        isJson = false;
      }
    }

    if (response.ok) {
      if (!isJson) {
        throw new TemplatesApiError(
          0,
          unreachableMessage(
            `HTTP ${response.status} answer is not JSON; is the service URL ${this.baseUrl} right?`
          )
        );
      }
      return data as T;
    }
    const message =
      isObject(data) &&
      typeof data.message === 'string' &&
      data.message.trim() !== ''
        ? data.message
        : statusMessage(response.status);
    const details = isObject(data) ? data.details : undefined;
    const field =
      isObject(data) && typeof data.field === 'string' ? data.field : null;
    throw new TemplatesApiError(response.status, message, details, field);
  }
}

function jobPath(id: number): string {
  return `jobs/${encodeURIComponent(String(id))}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.message || error.name;
  }
  return String(error);
}
