/**
 * Opening a notebook the service has just created, without unsaved changes.
 *
 * Why a created notebook would open "dirty": once its kernel starts, JupyterLab
 * writes the kernel's own description into the notebook's metadata
 * (`kernelspec` with the spec's display name and language, `language_info` as
 * the kernel reports it: version, mimetype, lexers...). A template carries
 * whatever its author's kernel wrote, and the service, which never runs a
 * kernel, cannot know what the user's kernel will report; so the model differs
 * from the file by those two keys, and Lab marks it changed although the user
 * changed nothing. A notebook saved by Lab itself has them already and opens
 * clean; so, for the notebook just created, a change of only those keys is not
 * counted as the user's: the model is marked clean again (nothing is written;
 * the next save writes them). Any other change (a cell, other metadata) is the
 * user's and stays unsaved.
 */

/** The notebook JSON the comparison reads (nbformat 4). */
type NotebookJson = {
  metadata?: Record<string, unknown>;
  cells?: unknown;
  [key: string]: unknown;
};

/** The metadata keys JupyterLab sets from the running kernel. */
export const KERNEL_METADATA_KEYS: ReadonlyArray<string> = [
  'kernelspec',
  'language_info'
];

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (
    typeof a !== 'object' ||
    typeof b !== 'object' ||
    a === null ||
    b === null ||
    Array.isArray(a) !== Array.isArray(b)
  ) {
    return false;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter(key => left[key] !== undefined);
  const other = Object.keys(right).filter(key => right[key] !== undefined);
  return (
    keys.length === other.length &&
    keys.every(key => deepEqual(left[key], right[key]))
  );
}

/**
 * Whether `after` differs from `before` (two notebooks' JSON) at most in the
 * metadata JupyterLab takes from the kernel ({@link KERNEL_METADATA_KEYS}).
 */
export function onlyKernelMetadataChanged(
  before: NotebookJson,
  after: NotebookJson
): boolean {
  const strip = (nb: NotebookJson): NotebookJson => {
    const metadata = { ...(nb.metadata ?? {}) };
    for (const key of KERNEL_METADATA_KEYS) {
      delete metadata[key];
    }
    return { ...nb, metadata };
  };
  return deepEqual(strip(before), strip(after));
}

/** What {@link keepCleanOnKernelMetadata} needs of an opened document widget. */
export interface IOpenedNotebook {
  isDisposed: boolean;
  context: {
    ready: Promise<void>;
    model: {
      dirty: boolean;
      toJSON(): unknown;
      metadataChanged?: {
        connect(
          slot: (sender: unknown, change: { key: string }) => void
        ): unknown;
        disconnect(
          slot: (sender: unknown, change: { key: string }) => void
        ): unknown;
      };
    };
  };
}

/**
 * For the notebook `widget` just opened: whenever JupyterLab changes only the
 * kernel's metadata ({@link onlyKernelMetadataChanged} against the notebook as
 * loaded), mark the model clean again. Stops watching at the first change of
 * anything else (the user's edit), or after `watchMs`. Resolves once watching
 * has begun; a widget without a notebook model is left alone.
 */
export async function keepCleanOnKernelMetadata(
  widget: IOpenedNotebook,
  watchMs = 120000
): Promise<void> {
  const { context } = widget;
  await context.ready;
  const model = context.model;
  const signal = model.metadataChanged;
  if (widget.isDisposed || !signal) {
    return;
  }
  const loaded = model.toJSON() as NotebookJson;
  let done = false;
  const stop = (): void => {
    if (!done) {
      done = true;
      signal.disconnect(onChange);
      clearTimeout(timer);
    }
  };
  const onChange = (_sender: unknown, change: { key: string }): void => {
    if (!KERNEL_METADATA_KEYS.includes(change.key)) {
      return;
    }
    // the model marks itself dirty after it has told of the change: look after
    setTimeout(() => {
      if (done || widget.isDisposed) {
        stop();
        return;
      }
      if (onlyKernelMetadataChanged(loaded, model.toJSON() as NotebookJson)) {
        model.dirty = false;
      } else {
        stop(); // the user has changed something: theirs to save
      }
    }, 0);
  };
  const timer = setTimeout(stop, watchMs);
  signal.connect(onChange);
}
