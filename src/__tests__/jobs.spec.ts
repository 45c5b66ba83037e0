import type { Execution, JobRun } from '../api/types';
import {
  CRON_EXAMPLES,
  browserTimeZone,
  cronProblem,
  describeCron,
  formatRunTime,
  jobErrorField,
  parseWeekdays,
  runInProgress,
  runOutcome,
  suggestedJobName,
  weekdayName
} from '../jobs';

/** Lab's `trans.__`: `%1`, `%2`… replaced by the arguments. */
const trans = {
  __: (msgid: string, ...args: unknown[]): string =>
    msgid.replace(/%(\d+)/g, (_, n) => String(args[Number(n) - 1]))
};

function run(extra: Partial<JobRun> = {}): JobRun {
  return {
    id: 1,
    job_id: 2,
    slot: null,
    state: 'dispatched',
    message: null,
    notebook_path: 'jobs/a.ipynb',
    execution_id: 3,
    created_at: '2026-01-02T03:04:05Z',
    ...extra
  };
}

function execution(status: Execution['status']): Execution {
  return {
    execution_id: 3,
    status,
    notebook_path: 'jobs/a.ipynb',
    start_time: '2026-01-02T03:04:05Z',
    end_time: null,
    duration: null,
    output_path: 'jobs/a.ipynb',
    progress: { cells_done: 0, cells_total: 0 },
    error: null,
    mlflow: {},
    status_url: '/x'
  };
}

describe('describeCron', () => {
  const cases: Array<[string, string | null]> = [
    ['* * * * *', 'Every minute'],
    ['*/15 * * * *', 'Every 15 minutes'],
    ['5 * * * *', 'Every hour at minute 5'],
    ['0 */6 * * *', 'Every 6 hours at minute 0'],
    ['0 3 * * *', 'Every day at 03:00'],
    ['30 14 * * *', 'Every day at 14:30'],
    ['0 9 * * 1-5', 'Every weekday (Monday to Friday) at 09:00'],
    ['0 9 * * mon-fri', 'Every weekday (Monday to Friday) at 09:00'],
    ['0 9 * * 1', 'Every Monday at 09:00'],
    ['0 9 * * 0,6', 'Every Sunday, Saturday at 09:00'],
    ['0 9 * * 7', 'Every Sunday at 09:00'],
    ['0 0 1 * *', 'On day 1 of every month at 00:00'],
    ['0 3 * * * 0', 'Every day at 03:00'],
    ['* * * * * */10', 'Every 10 seconds'],
    // shapes not put in words: shown as cron
    ['0 3 * 1 *', null],
    ['0 3 1 * 1', null],
    ['0 3-5 * * *', null],
    ['0 9 * * 1-9', null],
    ['0 3 * * * 30', null],
    ['0 3 * *', null],
    ['', null]
  ];
  it.each(cases)('describes %p', (expression, expected) => {
    expect(describeCron(expression, trans, 'en-US')).toBe(expected);
  });

  it('takes null (a job without a schedule)', () => {
    expect(describeCron(null, trans)).toBeNull();
  });

  it('puts every example in words', () => {
    for (const example of CRON_EXAMPLES) {
      expect(describeCron(example, trans, 'en-US')).not.toBeNull();
      expect(cronProblem(example)).toBeNull();
    }
  });
});

describe('weekdays', () => {
  it('parses numbers, names, ranges and lists', () => {
    expect(parseWeekdays('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseWeekdays('5-7')).toEqual([0, 5, 6]);
    expect(parseWeekdays('SUN,wed')).toEqual([0, 3]);
    expect(parseWeekdays('*/2')).toBeNull();
    expect(parseWeekdays('5-1')).toBeNull();
    expect(parseWeekdays('8')).toBeNull();
  });

  it('names them in the locale', () => {
    expect(weekdayName(0, 'en-US')).toBe('Sunday');
    expect(weekdayName(1, 'de-DE')).toBe('Montag');
  });
});

describe('cronProblem', () => {
  it('wants five or six fields', () => {
    expect(cronProblem('0 3 * * *')).toBeNull();
    expect(cronProblem(' 0  3 * * *  ')).toBeNull();
    expect(cronProblem('0 3 * * * 0')).toBeNull();
    expect(cronProblem('0 3 * *')).toBe('fields');
    expect(cronProblem('daily')).toBe('fields');
  });
});

describe('formatRunTime', () => {
  it('shows a time in the given zone and locale', () => {
    const text = formatRunTime('2026-12-03T02:00:00Z', {
      locale: 'en-US',
      timeZone: 'Europe/Berlin'
    });
    expect(text).toContain('Dec 3, 2026');
    expect(text).toContain('03:00');
    expect(text).toMatch(/GMT\+1|CET/);
  });

  it('shows the user zone by default and keeps what it cannot read', () => {
    const text = formatRunTime('2026-12-03T02:00:00Z', { locale: 'en-US' });
    expect(text).toContain('2026');
    expect(formatRunTime(null)).toBe('');
    expect(formatRunTime('soon')).toBe('soon');
  });

  it('knows the browser zone', () => {
    expect(browserTimeZone()).toBe(
      Intl.DateTimeFormat().resolvedOptions().timeZone
    );
  });
});

describe('jobErrorField', () => {
  it('finds the field the service names first', () => {
    expect(
      jobErrorField("schedule 'x' is not a cron expression (five fields…).")
    ).toBe('schedule');
    expect(
      jobErrorField(
        "schedule '* * * * *' fires more often than every 60 s, the shortest interval this service allows."
      )
    ).toBe('schedule');
    expect(jobErrorField("Unknown time zone 'Mars/Olympus'.")).toBe('timezone');
    expect(
      jobErrorField('timezone must be an IANA time zone name, e.g. X.')
    ).toBe('timezone');
    expect(jobErrorField('name is required.')).toBe('name');
    expect(jobErrorField('name_pattern may use {job} and nothing else')).toBe(
      'name_pattern'
    );
    expect(jobErrorField('target_directory is refused: dots.')).toBe(
      'target_directory'
    );
    expect(jobErrorField('overlap must be one of skip, queue.')).toBe(
      'overlap'
    );
  });

  it('names no field for other messages', () => {
    expect(jobErrorField('Template ml/x.ipynb not found.')).toBeNull();
    expect(jobErrorField('Unknown field(s): foo.')).toBeNull();
    expect(jobErrorField('')).toBeNull();
  });
});

describe('job runs', () => {
  it('come to their execution status once they have one', () => {
    expect(runOutcome(run({ execution: execution('success') }))).toBe(
      'success'
    );
    expect(runOutcome(run({ state: 'skipped', execution_id: null }))).toBe(
      'skipped'
    );
  });

  it('are in progress until queued, dispatched or running ones end', () => {
    expect(runInProgress(run({ state: 'queued', execution_id: null }))).toBe(
      true
    );
    expect(runInProgress(run())).toBe(true);
    expect(runInProgress(run({ execution: execution('running') }))).toBe(true);
    expect(runInProgress(run({ execution: execution('failed') }))).toBe(false);
    expect(runInProgress(run({ state: 'failed', execution_id: null }))).toBe(
      false
    );
    expect(runInProgress(run({ state: 'skipped', execution_id: null }))).toBe(
      false
    );
  });

  it('suggests a job name from the file name', () => {
    expect(suggestedJobName('report.ipynb')).toBe('report');
    expect(suggestedJobName('notes')).toBe('notes');
  });
});
