/**
 * The service's refusals of a create-from-template request, in the form's own
 * words and against the form's own fields.
 *
 * The service names the request member an error is about in the answer's
 * `field` (`new_name`, `target_directory`, `overwrite`, `parameters`) and lists
 * bad parameters in `details.parameters`; its messages use the API's names
 * ("set overwrite", "new_name"), which the form replaces by its labels.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

/** What {@link placeServiceError} reads of a `TemplatesApiError`. */
export interface IServiceRefusal {
  status: number;
  message: string;
  field: string | null;
  fieldErrors: Record<string, string>;
}

/** Where a refusal goes: messages per form field, and the form's summary. */
export type PlacedError = {
  /** The message per field: a parameter's name, or a request member's. */
  fields: Record<string, string>;
  /** The message above the buttons (`null`: none). */
  summary: string | null;
};

/**
 * `message` with every API member name of `labels` (e.g. `new_name`) replaced
 * by the form's label for it (e.g. "New name"), quoted; "set NAME" and
 * "NAME=true" (a checkbox's member) become `tick "Label"`.
 */
export function withLabels(
  message: string,
  labels: Record<string, string>
): string {
  let text = message;
  // longest names first, so that no name replaces part of another
  for (const name of Object.keys(labels).sort((a, b) => b.length - a.length)) {
    const label = `"${labels[name]}"`;
    text = text
      .replace(
        new RegExp(`\\bset ${name}\\b|\\b${name}=true\\b`, 'g'),
        `tick ${label}`
      )
      .replace(new RegExp(`\\b${name}\\b`, 'g'), label);
  }
  return text;
}

/**
 * Place the service's refusal `error` of the form whose request members are
 * labelled `labels` (member name → label) and whose parameters are named
 * `params`:
 * - `details.parameters`: each reason at its parameter; reasons for names the
 *   form does not show go into the summary;
 * - a 409 about `new_name` (the file exists): a message at the name field
 *   saying how to go on, in the form's words;
 * - another error with a `field` the form shows: its message, with the form's
 *   labels, at that field;
 * - anything else: the message (with the form's labels) as the summary.
 * Whenever a field is marked, the summary asks to correct the highlighted
 * fields (plus what could not be placed).
 */
export function placeServiceError(
  trans: TranslationBundle,
  error: IServiceRefusal,
  labels: Record<string, string>,
  params: ReadonlyArray<string>
): PlacedError {
  const fields: Record<string, string> = {};
  const unplaced: string[] = [];
  for (const [name, reason] of Object.entries(error.fieldErrors)) {
    if (params.includes(name)) {
      fields[name] = reason;
    } else {
      unplaced.push(`${name}: ${reason}`);
    }
  }
  const field = error.field;
  if (
    Object.keys(error.fieldErrors).length === 0 &&
    field !== null &&
    field in labels
  ) {
    if (error.status === 409 && field === 'new_name') {
      fields[field] = labels.overwrite
        ? trans.__(
            'A file of this name already exists in the target folder. Choose another name, or tick "%1".',
            labels.overwrite
          )
        : trans.__(
            'A file of this name already exists in the target folder. Choose another name.'
          );
    } else {
      fields[field] = withLabels(error.message, labels);
    }
  }
  if (Object.keys(fields).length === 0) {
    return {
      fields,
      summary: [withLabels(error.message, labels), ...unplaced].join('\n')
    };
  }
  return {
    fields,
    summary: [trans.__('Please correct the highlighted fields.'), ...unplaced]
      .filter(Boolean)
      .join('\n')
  };
}
