import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';

/**
 * A date as "2 hours ago" (falls back to the raw text when unparsable).
 */
export function relativeTime(value: string | null | undefined): string {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  if (isNaN(date.getTime())) {
    return value;
  }
  return Time.formatHuman(date);
}

/**
 * A date in the user's locale, for tooltips.
 */
export function absoluteTime(value: string | null | undefined): string {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  return isNaN(date.getTime()) ? value : date.toLocaleString();
}

/**
 * A number of seconds as "1h 02m 03s", "2m 05s" or "7s".
 */
export function formatSeconds(
  trans: TranslationBundle,
  totalSeconds: number
): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const pad = (n: number): string => n.toString().padStart(2, '0');
  if (h > 0) {
    return trans.__('%1h %2m %3s', h, pad(m), pad(s));
  }
  if (m > 0) {
    return trans.__('%1m %2s', m, pad(s));
  }
  return trans.__('%1s', s);
}

/**
 * Seconds elapsed since an ISO date ('' when unknown).
 */
export function elapsedSince(
  trans: TranslationBundle,
  start: string | null | undefined,
  now: number = Date.now()
): string {
  if (!start) {
    return '';
  }
  const began = new Date(start).getTime();
  if (isNaN(began)) {
    return '';
  }
  return formatSeconds(trans, (now - began) / 1000);
}

/**
 * The last path segment.
 */
export function basename(path: string): string {
  const parts = path.split('/').filter(part => part !== '');
  return parts.length ? parts[parts.length - 1] : path;
}
