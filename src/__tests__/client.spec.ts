import {
  TemplatesApiError,
  TemplatesClient,
  buildQuery,
  encodePath,
  isFinal
} from '../api';

type Call = { url: string; init: RequestInit };

/**
 * A client whose fetch records the calls and answers `answer` (or throws it).
 */
function makeClient(
  answer: Response | Error | (() => Response) = json({}),
  token = 'secret'
): { client: TemplatesClient; calls: Call[] } {
  const calls: Call[] = [];
  const fetchFn = async (url: string, init?: RequestInit) => {
    calls.push({ url, init: init ?? {} });
    if (answer instanceof Error) {
      throw answer;
    }
    return typeof answer === 'function' ? answer() : answer;
  };
  const client = new TemplatesClient({
    baseUrl: '/services/templates/',
    token,
    fetchFn
  });
  return { client, calls };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

function headersOf(call: Call): Record<string, string> {
  return call.init.headers as Record<string, string>;
}

async function failure(promise: Promise<unknown>): Promise<TemplatesApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TemplatesApiError);
    return error as TemplatesApiError;
  }
  throw new Error('expected the request to fail');
}

describe('URL building', () => {
  it('encodes each segment of a name and keeps the slash', () => {
    expect(encodePath('ml/automl template.ipynb')).toBe(
      'ml/automl%20template.ipynb'
    );
    expect(encodePath('a/b?c#d%e.ipynb')).toBe('a/b%3Fc%23d%25e.ipynb');
    expect(encodePath('ml/é.ipynb')).toBe('ml/%C3%A9.ipynb');
  });

  it('builds a query from the defined values only', () => {
    expect(buildQuery({})).toBe('');
    expect(buildQuery({ a: undefined })).toBe('');
    expect(buildQuery({ q: 'a b&c', limit: 10, offset: 0, flag: false })).toBe(
      '?q=a+b%26c&limit=10&offset=0&flag=false'
    );
  });

  it('adds the final slash to the base URL', async () => {
    const calls: Call[] = [];
    const client = new TemplatesClient({
      baseUrl: '/services/templates',
      fetchFn: async (url, init) => {
        calls.push({ url, init: init ?? {} });
        return json({ service: 'x', version: '1', user: 'u' });
      }
    });
    expect(client.baseUrl).toBe('/services/templates/');
    await client.whoami();
    expect(calls[0].url).toBe('/services/templates/');
  });

  it('lists templates with the given query only', async () => {
    const page = { templates: [], total: 0, count: 0, limit: 100, offset: 0 };
    const { client, calls } = makeClient(() => json(page));
    expect(await client.listTemplates()).toEqual(page);
    expect(calls[0].url).toBe('/services/templates/minio/list-templates');
    expect(calls[0].init.method).toBe('GET');
    await client.listTemplates({
      category: 'ml',
      q: 'auto ml',
      limit: 20,
      offset: 40,
      sort: 'last_modified',
      order: 'desc'
    });
    expect(calls[1].url).toBe(
      '/services/templates/minio/list-templates?category=ml&q=auto+ml&limit=20&offset=40&sort=last_modified&order=desc'
    );
  });

  it('unwraps the categories', async () => {
    const { client, calls } = makeClient(
      json({ status: 'success', categories: [{ name: 'ml', count: 2 }] })
    );
    expect(await client.listCategories()).toEqual([{ name: 'ml', count: 2 }]);
    expect(calls[0].url).toBe('/services/templates/minio/list-categories');
  });

  it('gets a template by its name, with content and version', async () => {
    const detail = { name: 'ml/a b.ipynb', current_version: 2, versions: [] };
    const { client, calls } = makeClient(() =>
      json({ status: 'success', ...detail, template: detail })
    );
    expect(await client.getTemplate('ml/a b.ipynb')).toEqual(detail);
    expect(calls[0].url).toBe(
      '/services/templates/minio/get-template/ml/a%20b.ipynb'
    );
    await client.getTemplate('ml/a b.ipynb', { content: true, version: 3 });
    expect(calls[1].url).toBe(
      '/services/templates/minio/get-template/ml/a%20b.ipynb?content=true&version=3'
    );
    await client.getTemplate('ml/x.ipynb', { content: false });
    expect(calls[2].url).toBe(
      '/services/templates/minio/get-template/ml/x.ipynb'
    );
  });

  it('deletes a template', async () => {
    const { client, calls } = makeClient(
      json({
        status: 'success',
        template_name: 'ml/x.ipynb',
        deleted_versions: 2
      })
    );
    const result = await client.deleteTemplate('ml/x#1.ipynb');
    expect(result.deleted_versions).toBe(2);
    expect(calls[0].init.method).toBe('DELETE');
    expect(calls[0].url).toBe(
      '/services/templates/minio/delete-template/ml/x%231.ipynb'
    );
  });

  it('calls every jobs route', async () => {
    const { client, calls } = makeClient(() => json({}));
    await client.listJobs();
    await client.listJobs({ template: 'ml/a b.ipynb', all: true, limit: 5 });
    await client.getJob(4);
    await client.pauseJob(4);
    await client.resumeJob(4);
    await client.runJob(4);
    await client.listJobRuns(4);
    await client.listJobRuns(4, { limit: 20, offset: 40 });
    expect(calls.map(c => [c.init.method, c.url])).toEqual([
      ['GET', '/services/templates/jobs'],
      [
        'GET',
        '/services/templates/jobs?template=ml%2Fa+b.ipynb&all=true&limit=5'
      ],
      ['GET', '/services/templates/jobs/4'],
      ['POST', '/services/templates/jobs/4/pause'],
      ['POST', '/services/templates/jobs/4/resume'],
      ['POST', '/services/templates/jobs/4/run'],
      ['GET', '/services/templates/jobs/4/runs'],
      ['GET', '/services/templates/jobs/4/runs?limit=20&offset=40']
    ]);
    for (const call of calls) {
      expect(headersOf(call)['Authorization']).toBe('token secret');
      expect(call.init.body).toBeUndefined();
    }
  });

  it('defines and changes a job with a JSON body', async () => {
    const job = { id: 9, name: 'nightly', next_run_at: '2026-12-03T02:00:00Z' };
    const { client, calls } = makeClient(() => json(job, 201));
    const request = {
      name: 'nightly',
      template_name: 'ml/a.ipynb',
      parameters: { n: 1 },
      schedule: '0 3 * * *',
      timezone: 'Europe/Berlin',
      overlap: 'queue' as const,
      missed: 'skip' as const
    };
    await expect(client.createJob(request)).resolves.toEqual(job);
    await client.updateJob(9, { schedule: null });
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].url).toBe('/services/templates/jobs');
    expect(headersOf(calls[0])['Content-Type']).toBe('application/json');
    expect(JSON.parse(calls[0].init.body as string)).toEqual(request);
    expect(calls[1].init.method).toBe('PATCH');
    expect(calls[1].url).toBe('/services/templates/jobs/9');
    expect(JSON.parse(calls[1].init.body as string)).toEqual({
      schedule: null
    });
  });

  it('deletes a job (204, no body)', async () => {
    const { client, calls } = makeClient(
      () => new Response(null, { status: 204 })
    );
    await expect(client.deleteJob(9)).resolves.toBeUndefined();
    expect(calls[0].init.method).toBe('DELETE');
    expect(calls[0].url).toBe('/services/templates/jobs/9');
  });

  it("gives a job's refusal with the service's message", async () => {
    const { client } = makeClient(
      json(
        {
          status: 'error',
          message: "Unknown time zone 'Mars/Olympus'."
        },
        400
      )
    );
    const error = await failure(
      client.createJob({ name: 'x', template_name: 'a/b.ipynb' })
    );
    expect(error.status).toBe(400);
    expect(error.message).toBe("Unknown time zone 'Mars/Olympus'.");
    expect(error.fieldErrors).toEqual({});
  });

  it('runs an execution again, with changes or none', async () => {
    const started = { status: 'pending', execution_id: 8 };
    const { client, calls } = makeClient(() => json(started, 202));
    await expect(client.rerunExecution(7)).resolves.toEqual(started);
    await client.rerunExecution(7, { parameters: { n: 2 } });
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].url).toBe('/services/templates/execution/7/rerun');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({});
    expect(JSON.parse(calls[1].init.body as string)).toEqual({
      parameters: { n: 2 }
    });
  });

  it('builds the execution URLs', async () => {
    const { client, calls } = makeClient(() => json({}));
    await client.executionStatus(7);
    await client.cancelExecution(7);
    await client.executionLog(7);
    await client.executionLog(7, 1024);
    await client.listExecutions();
    await client.listExecutions({
      status: 'running',
      template: 'ml/a.ipynb',
      limit: 50,
      offset: 0
    });
    await client.listExecutions({ all: true, username: 'bob' });
    expect(calls.map(c => `${c.init.method} ${c.url}`)).toEqual([
      'GET /services/templates/execution-status/7',
      'POST /services/templates/execution/7/cancel',
      'GET /services/templates/execution/7/log',
      'GET /services/templates/execution/7/log?offset=1024',
      'GET /services/templates/executions',
      'GET /services/templates/executions?status=running&template=ml%2Fa.ipynb&limit=50&offset=0',
      'GET /services/templates/executions?username=bob&all=true'
    ]);
    expect(calls[1].init.body).toBeUndefined();
  });
});

describe('headers', () => {
  it('sends the token and asks for JSON', async () => {
    const { client, calls } = makeClient(json({ user: 'alice' }));
    await client.whoami();
    expect(headersOf(calls[0])).toEqual({
      Accept: 'application/json',
      Authorization: 'token secret'
    });
    expect(calls[0].init.credentials).toBe('same-origin');
  });

  it('sends no Authorization header without a token', async () => {
    const { client, calls } = makeClient(json({ user: 'alice' }), '');
    await client.whoami();
    expect(headersOf(calls[0])).toEqual({ Accept: 'application/json' });
  });

  it('uses the global fetch by default', async () => {
    const original = globalThis.fetch;
    const spy = jest.fn(async () => json({ user: 'alice' }));
    globalThis.fetch = spy as unknown as typeof fetch;
    try {
      const client = new TemplatesClient({ baseUrl: '/s/', token: 't' });
      expect((await client.whoami()).user).toBe('alice');
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      globalThis.fetch = original;
    }
  });
});

describe('bodies', () => {
  it('posts create-from-template as JSON', async () => {
    const created = {
      status: 'success',
      new_notebook_path: 'work/run.ipynb',
      parameters_applied: { alpha: 0.5 },
      notebook_url: '/user/alice/lab/tree/work/run.ipynb',
      notebook_id: 3
    };
    const { client, calls } = makeClient(json(created, 201));
    const request = {
      template_name: 'ml/a.ipynb',
      target_directory: 'work',
      new_name: 'run.ipynb',
      parameters: { alpha: 0.5, tags: ['a'], opt: null }
    };
    expect(await client.createFromTemplate(request)).toEqual(created);
    expect(calls[0].url).toBe('/services/templates/create-from-template');
    expect(calls[0].init.method).toBe('POST');
    expect(headersOf(calls[0])['Content-Type']).toBe('application/json');
    expect(JSON.parse(calls[0].init.body as string)).toEqual(request);
  });

  it('posts execute-notebook as JSON', async () => {
    const started = {
      status: 'pending',
      execution_id: 9,
      notebook_url: '/user/alice/lab/tree/run.ipynb',
      status_url: '/services/templates/execution-status/9',
      output_path: 'run-run-9.ipynb'
    };
    const { client, calls } = makeClient(json(started, 202));
    const result = await client.executeNotebook({
      notebook_path: 'run.ipynb',
      parameters: { n: 1 }
    });
    expect(result.execution_id).toBe(9);
    expect(calls[0].url).toBe('/services/templates/execute-notebook');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({
      notebook_path: 'run.ipynb',
      parameters: { n: 1 }
    });
  });

  it('uploads multipart form data', async () => {
    const { client, calls } = makeClient(
      json({ status: 'success', template_name: 'ml/n.ipynb', version: 1 }, 201)
    );
    const file = new Blob(['{"cells": []}'], { type: 'application/json' });
    const result = await client.uploadTemplate(file, 'n.ipynb', {
      category: 'ml',
      description: 'A notebook',
      overwrite: true
    });
    expect(result.version).toBe(1);
    const call = calls[0];
    expect(call.url).toBe('/services/templates/minio/upload-template');
    expect(call.init.method).toBe('POST');
    // fetch sets the multipart Content-Type with its boundary
    expect(headersOf(call)['Content-Type']).toBeUndefined();
    expect(headersOf(call)['Authorization']).toBe('token secret');
    const form = call.init.body as FormData;
    expect(form).toBeInstanceOf(FormData);
    const sent = form.get('file') as File;
    expect(sent.name).toBe('n.ipynb');
    expect(await sent.text()).toBe('{"cells": []}');
    expect(form.get('filename')).toBe('n.ipynb');
    expect(form.get('category')).toBe('ml');
    expect(form.get('description')).toBe('A notebook');
    expect(form.get('overwrite')).toBe('true');
  });

  it('leaves optional upload fields out', async () => {
    const { client, calls } = makeClient(json({}, 201));
    await client.uploadTemplate(new Blob(['{}']), 'x.ipynb', {
      category: 'misc'
    });
    const form = calls[0].init.body as FormData;
    expect(form.has('description')).toBe(false);
    expect(form.has('overwrite')).toBe(false);
    expect(form.get('category')).toBe('misc');
  });

  it('sends overwrite=false when asked', async () => {
    const { client, calls } = makeClient(json({}, 200));
    await client.uploadTemplate(new Blob(['{}']), 'x.ipynb', {
      category: 'misc',
      overwrite: false
    });
    expect((calls[0].init.body as FormData).get('overwrite')).toBe('false');
  });
});

describe('error mapping', () => {
  it('maps a 400 with details to field errors', async () => {
    const { client } = makeClient(
      json(
        {
          status: 'error',
          message: '2 parameters are invalid: n: expected an integer; x: bad',
          details: {
            parameters: { n: 'expected an integer', x: 'bad' }
          }
        },
        400
      )
    );
    const error = await failure(
      client.createFromTemplate({ template_name: 'ml/a.ipynb' })
    );
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      '2 parameters are invalid: n: expected an integer; x: bad'
    );
    expect(error.fieldErrors).toEqual({ n: 'expected an integer', x: 'bad' });
    expect(error.details).toEqual({
      parameters: { n: 'expected an integer', x: 'bad' }
    });
    expect(error.name).toBe('TemplatesApiError');
    expect(error).toBeInstanceOf(Error);
    expect(error.unreachable).toBe(false);
  });

  it('has no field errors without details.parameters', async () => {
    const { client } = makeClient(
      json(
        { status: 'error', message: 'The request body is not valid JSON.' },
        400
      )
    );
    const error = await failure(client.listTemplates());
    expect(error.fieldErrors).toEqual({});
    expect(error.details).toBeUndefined();
    expect(new TemplatesApiError(400, 'x', ['a']).fieldErrors).toEqual({});
    expect(
      new TemplatesApiError(400, 'x', { parameters: { a: 3 } }).fieldErrors
    ).toEqual({ a: '3' });
  });

  it.each([
    [403, 'Uploading templates needs the scope custom:templates:admin.'],
    [404, 'No template ml/x.ipynb.'],
    [409, 'ml/x.ipynb exists; overwrite it to store a new version.'],
    [503, 'The database is unavailable.']
  ])('passes the service message of a %i on', async (status, message) => {
    const { client } = makeClient(json({ status: 'error', message }, status));
    const error = await failure(client.getTemplate('ml/x.ipynb'));
    expect(error.status).toBe(status);
    expect(error.message).toBe(message);
  });

  it.each([
    [400, /invalid/],
    [403, /not allowed/],
    [404, /Not found/],
    [409, /conflicts/],
    [413, /too large/],
    [503, /unavailable/],
    [500, /HTTP 500/]
  ])(
    'explains a %i without a message',
    async (status: number, pattern: RegExp) => {
      const { client } = makeClient(json({ status: 'error' }, status));
      const error = await failure(client.whoami());
      expect(error.status).toBe(status);
      expect(error.message).toMatch(pattern);
    }
  );

  it('maps a network failure to status 0', async () => {
    const { client } = makeClient(new TypeError('Failed to fetch'));
    const error = await failure(client.listCategories());
    expect(error.status).toBe(0);
    expect(error.unreachable).toBe(true);
    expect(error.message).toBe(
      'The templates service cannot be reached (Failed to fetch).'
    );
  });

  it('maps a non-JSON 502 to its status with a generic message', async () => {
    const { client } = makeClient(
      new Response('<html>Bad Gateway</html>', {
        status: 502,
        headers: { 'Content-Type': 'text/html' }
      })
    );
    const error = await failure(client.listTemplates());
    expect(error.status).toBe(502);
    expect(error.message).toBe(
      'The templates service is unavailable (HTTP 502); try again later.'
    );
    expect(error.details).toBeUndefined();
  });

  it('maps a non-JSON success (a login page) to status 0', async () => {
    const { client } = makeClient(
      new Response('<html>login</html>', { status: 200 })
    );
    const error = await failure(client.whoami());
    expect(error.status).toBe(0);
    expect(error.message).toMatch(
      /^The templates service cannot be reached \(.*not JSON/
    );
  });

  it('refuses to run without a base URL', async () => {
    const fetchFn = jest.fn();
    const client = new TemplatesClient({ baseUrl: '', fetchFn });
    const error = await failure(client.whoami());
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/cannot be reached \(no service URL/);
    expect(fetchFn).not.toHaveBeenCalled();
  });

  it('resolves to undefined for an empty success', async () => {
    const { client } = makeClient(new Response(null, { status: 204 }));
    await expect(client.request('DELETE', 'notebook/1')).resolves.toBe(
      undefined
    );
  });
});

describe('isFinal', () => {
  it('knows the final statuses', () => {
    expect(isFinal('success')).toBe(true);
    expect(isFinal('failed')).toBe(true);
    expect(isFinal('cancelled')).toBe(true);
    expect(isFinal('pending')).toBe(false);
    expect(isFinal('running')).toBe(false);
  });
});
