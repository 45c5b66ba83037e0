/**
 * Confirmations before destructive actions: cancelling a run, deleting a
 * template, discarding the job form. Each asks with Lab's Dialog, its safe button first and focused
 * (`defaultButton`), so that Enter or a reflex click keeps what exists.
 *
 * The texts are built by pure functions ({@link cancelRunDialog},
 * {@link deleteTemplateDialog}) that the unit tests read; the dialog itself is
 * loaded when asked (`@jupyterlab/apputils` needs a browser).
 */

import type { TranslationBundle } from '@jupyterlab/translation';

/**
 * What a confirmation dialog shows. The safe button (`keepLabel`) comes first
 * and is the default: Enter chooses it.
 */
export type ConfirmSpec = {
  title: string;
  body: string;
  /** The button that changes nothing (first, focused, chosen by Enter). */
  keepLabel: string;
  /** The destructive button (a warning button, second). */
  confirmLabel: string;
  /** The index of the default (focused) button: always 0, the safe one. */
  defaultButton: 0;
};

/**
 * The dialog that asks before cancelling the run called `label` (e.g. its
 * notebook's path).
 */
export function cancelRunDialog(
  trans: TranslationBundle,
  label: string
): ConfirmSpec {
  return {
    title: trans.__('Cancel run'),
    body: trans.__(
      'Stop the run of "%1"? Its kernel is stopped and the cells not yet run are not run. The output notebook keeps what ran so far.',
      label
    ),
    keepLabel: trans.__('Keep running'),
    confirmLabel: trans.__('Cancel run'),
    defaultButton: 0
  };
}

/**
 * The dialog that asks before deleting the template `name` and its versions.
 */
export function deleteTemplateDialog(
  trans: TranslationBundle,
  name: string
): ConfirmSpec {
  return {
    title: trans.__('Delete template'),
    body: trans.__(
      'Delete "%1" and all its versions? Users will no longer be able to create notebooks from it. This cannot be undone.',
      name
    ),
    keepLabel: trans.__('Cancel'),
    confirmLabel: trans.__('Delete'),
    defaultButton: 0
  };
}

/**
 * The dialog that asks before closing the job form with what was entered.
 */
export function discardJobDialog(trans: TranslationBundle): ConfirmSpec {
  return {
    title: trans.__('Discard the job?'),
    body: trans.__(
      'The job is not scheduled yet; what you entered in its form is lost.'
    ),
    keepLabel: trans.__('Keep editing'),
    confirmLabel: trans.__('Discard'),
    defaultButton: 0
  };
}

/**
 * Show `spec` with Lab's Dialog; resolves `true` only when its destructive
 * button was chosen (`false` for the safe button, Escape, or closing).
 */
export async function confirmDestructive(spec: ConfirmSpec): Promise<boolean> {
  const { Dialog, showDialog } = await import('@jupyterlab/apputils');
  const result = await showDialog({
    title: spec.title,
    body: spec.body,
    buttons: [
      Dialog.cancelButton({ label: spec.keepLabel }),
      Dialog.warnButton({ label: spec.confirmLabel })
    ],
    defaultButton: spec.defaultButton
  });
  return result.button.accept;
}

/**
 * Ask before cancelling the run called `label`; `true` when the user confirmed.
 *
 * ```ts
 * if (await confirmCancel(trans, execution.notebook_path)) {
 *   await executions.cancel(execution.execution_id);
 * }
 * ```
 */
export function confirmCancel(
  trans: TranslationBundle,
  label: string
): Promise<boolean> {
  return confirmDestructive(cancelRunDialog(trans, label));
}

/**
 * Ask before deleting the template `name`; `true` when the user confirmed.
 */
export function confirmDeleteTemplate(
  trans: TranslationBundle,
  name: string
): Promise<boolean> {
  return confirmDestructive(deleteTemplateDialog(trans, name));
}
