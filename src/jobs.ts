/**
 * Pure helpers of the Jobs views: describing cron schedules, formatting run
 * times, placing the service's refusals next to the job form's fields.
 *
 * No JupyterLab import (only types), so that Jest runs them as they are.
 */

import type { Execution, ExecutionStatus, JobRun, JobRunState } from './api';

/**
 * What the helpers need of Lab's `TranslationBundle`.
 */
export type Translate = {
  __: (msgid: string, ...args: unknown[]) => string;
};

/**
 * Cron expressions offered as examples under the schedule field.
 */
export const CRON_EXAMPLES: ReadonlyArray<string> = [
  '0 3 * * *',
  '0 9 * * 1-5',
  '*/30 * * * *',
  '0 0 1 * *'
];

/**
 * The job form's fields that the service may name in a refusal.
 */
export const JOB_FIELDS = [
  'name',
  'schedule',
  'timezone',
  'overlap',
  'missed',
  'target_directory',
  'name_pattern'
] as const;

export type JobField = (typeof JOB_FIELDS)[number];

/**
 * The default name pattern of a job's notebooks (the service's too).
 */
export const DEFAULT_NAME_PATTERN = '{job}-{datetime}.ipynb';

/**
 * The browser's IANA time zone, e.g. `Europe/Berlin`; `UTC` when unknown.
 */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/**
 * The IANA time zones the browser knows (for suggestions), `[]` when it cannot
 * list them.
 */
export function knownTimeZones(): string[] {
  const intl = Intl as unknown as {
    supportedValuesOf?: (key: string) => string[];
  };
  try {
    return intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}

/**
 * Why `expression` cannot be a cron expression as the service takes them (five
 * fields, or six with seconds last), or null when it may be one. The service
 * checks the fields themselves; this only saves a round trip for a plain typo.
 */
export function cronProblem(expression: string): 'fields' | null {
  const count = expression.trim().split(/\s+/).filter(Boolean).length;
  return count === 5 || count === 6 ? null : 'fields';
}

const NUMBER = /^\d+$/;
const STEP = /^\*\/(\d+)$/;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * `expression` in words ("Every day at 03:00"), for the common shapes; null for
 * the others, which are then shown as cron. Times are the schedule's own (in
 * the job's time zone); weekday names are in `locale`.
 */
export function describeCron(
  expression: string | null | undefined,
  trans: Translate,
  locale?: string
): string | null {
  if (!expression) {
    return null;
  }
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 6) {
    const seconds = fields.pop() as string;
    if (seconds !== '0') {
      const step = STEP.exec(seconds);
      return step && fields.every(field => field === '*')
        ? trans.__('Every %1 seconds', Number(step[1]))
        : null;
    }
  }
  if (fields.length !== 5) {
    return null;
  }
  const [minute, hour, dom, month, dow] = fields;
  if (month !== '*') {
    return null;
  }
  if (hour === '*' && dom === '*' && dow === '*') {
    if (minute === '*') {
      return trans.__('Every minute');
    }
    const step = STEP.exec(minute);
    if (step) {
      return trans.__('Every %1 minutes', Number(step[1]));
    }
    return NUMBER.test(minute)
      ? trans.__('Every hour at minute %1', Number(minute))
      : null;
  }
  const hourStep = STEP.exec(hour);
  if (hourStep && NUMBER.test(minute) && dom === '*' && dow === '*') {
    return trans.__(
      'Every %1 hours at minute %2',
      Number(hourStep[1]),
      Number(minute)
    );
  }
  if (!NUMBER.test(minute) || !NUMBER.test(hour)) {
    return null;
  }
  const time = `${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`;
  if (dom === '*' && dow === '*') {
    return trans.__('Every day at %1', time);
  }
  if (dom === '*') {
    const days = parseWeekdays(dow);
    if (!days) {
      return null;
    }
    if (days.join(',') === '1,2,3,4,5') {
      return trans.__('Every weekday (Monday to Friday) at %1', time);
    }
    const names = days.map(day => weekdayName(day, locale)).join(', ');
    return trans.__('Every %1 at %2', names, time);
  }
  if (dow === '*' && NUMBER.test(dom)) {
    return trans.__('On day %1 of every month at %2', Number(dom), time);
  }
  return null;
}

/**
 * The days (0 Sunday … 6 Saturday, sorted, unique) of a cron weekday field made
 * of numbers, three-letter names, ranges and commas; null for anything else.
 */
export function parseWeekdays(field: string): number[] | null {
  const day = (text: string): number | null => {
    const lower = text.toLowerCase();
    if (NUMBER.test(lower)) {
      const n = Number(lower);
      return n <= 7 ? n % 7 : null;
    }
    const index = DAY_NAMES.indexOf(lower);
    return index >= 0 ? index : null;
  };
  const days = new Set<number>();
  for (const part of field.split(',')) {
    const range = part.split('-');
    if (range.length === 1) {
      const single = day(part);
      if (single === null) {
        return null;
      }
      days.add(single);
    } else if (range.length === 2) {
      const first = day(range[0]);
      const last = range[1] === '7' ? 7 : day(range[1]);
      if (first === null || last === null || last < first) {
        return null;
      }
      for (let n = first; n <= last; n++) {
        days.add(n % 7);
      }
    } else {
      return null;
    }
  }
  return [...days].sort((a, b) => a - b);
}

/**
 * The weekday's name in `locale` (0 Sunday … 6 Saturday).
 */
export function weekdayName(day: number, locale?: string): string {
  // 2024-01-07 was a Sunday.
  const date = new Date(Date.UTC(2024, 0, 7 + day));
  return date.toLocaleDateString(locale, { weekday: 'long', timeZone: 'UTC' });
}

/**
 * An ISO time as the user reads it: their locale, and their time zone unless
 * `timeZone` is given ('' when missing; the raw text when unparsable).
 */
export function formatRunTime(
  value: string | null | undefined,
  options: { locale?: string; timeZone?: string } = {}
): string {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  if (isNaN(date.getTime())) {
    return value;
  }
  return date.toLocaleString(options.locale, {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: options.timeZone,
    timeZoneName: 'short'
  });
}

/**
 * Which field of the job form a refusal of the service is about, from the
 * message's first word (the service names the field first: "schedule '…' is not
 * a cron expression", "Unknown time zone 'X'."); null when none.
 */
export function jobErrorField(message: string): JobField | null {
  if (/^unknown time zone/i.test(message)) {
    return 'timezone';
  }
  const first = /^([a-z_]+)\b/.exec(message);
  if (!first) {
    return null;
  }
  return (JOB_FIELDS as ReadonlyArray<string>).indexOf(first[1]) >= 0
    ? (first[1] as JobField)
    : null;
}

/**
 * What a job run came to: its execution's status once it has one, else its
 * own state (queued, dispatching, skipped, failed).
 */
export function runOutcome(run: JobRun): ExecutionStatus | JobRunState {
  return run.execution ? run.execution.status : run.state;
}

/**
 * Whether a job run may still change (queued, being dispatched, or its
 * execution not ended).
 */
export function runInProgress(run: JobRun): boolean {
  const execution: Execution | undefined = run.execution;
  if (execution) {
    return execution.status === 'pending' || execution.status === 'running';
  }
  return (
    run.state === 'queued' ||
    run.state === 'dispatching' ||
    run.state === 'dispatched'
  );
}

/**
 * A job name suggested for a template: its file name without `.ipynb`.
 */
export function suggestedJobName(filename: string): string {
  return filename.replace(/\.ipynb$/i, '') || filename;
}
