import type { TranslationBundle } from '@jupyterlab/translation';

import { TemplatesApiError } from '../api';
import type { TemplateParameter } from '../api/types';
import {
  keepCleanOnKernelMetadata,
  onlyKernelMetadataChanged,
  type IOpenedNotebook
} from '../components/cleanOpen';
import {
  cancelRunDialog,
  deleteTemplateDialog,
  discardJobDialog
} from '../components/confirm';
import { formErrorText } from '../components/messages';
import { placeServiceError, withLabels } from '../components/serviceErrors';
import {
  FORM_ERRORS,
  coerce,
  freeNotebookName,
  itemType,
  validateForm,
  type FormErrorCode
} from '../form';

/**
 * A translation bundle that formats as Lab's does (`%1`, `%2`, ...) and
 * records the literals it was given.
 */
function bundle(): { trans: TranslationBundle; seen: string[] } {
  const seen: string[] = [];
  const format = (text: string, ...args: unknown[]): string => {
    seen.push(text);
    return text.replace(/%(\d+)/g, (_, i) => String(args[Number(i) - 1]));
  };
  const trans = { __: format, _p: (_c: string, t: string) => format(t) };
  return { trans: trans as unknown as TranslationBundle, seen };
}

function param(
  name: string,
  type: TemplateParameter['type'],
  annotation: string,
  defaultSource: string,
  defaultValue: unknown
): TemplateParameter {
  return {
    name,
    type,
    annotation,
    default: defaultSource,
    default_value: defaultValue,
    help: ''
  };
}

const NAMES = param('names', 'list', 'list[str]', '["a"]', ['a']);
const SIZES = param('sizes', 'list', 'List[int]', '[1]', [1]);
const RATES = param('rates', 'list', 'list[float]', '[0.5]', [0.5]);
const FLAGS = param('flags', 'list', 'list[bool]', '[True]', [true]);
const WEIGHTS = param('weights', 'dict', 'dict[str, float]', '{}', {});
const MAYBE = param('maybe', 'list', 'Optional[list[int]]', 'None', null);
const RATE = param('rate', 'float', 'float', '0.5', 0.5);
const N = param('n', 'int', 'int', '3', 3);

function code(p: TemplateParameter, raw: string): FormErrorCode | null {
  const result = coerce(p, raw);
  return result.ok ? null : result.code;
}

describe('annotated item types', () => {
  it('reads the annotations the service reads', () => {
    expect(itemType('list[str]')).toEqual({ container: 'list', kind: 'str' });
    expect(itemType('List[int]')).toEqual({ container: 'list', kind: 'int' });
    expect(itemType('tuple[int, ...]')).toEqual({
      container: 'list',
      kind: 'int'
    });
    expect(itemType('Optional[list[float]]')).toEqual({
      container: 'list',
      kind: 'float'
    });
    expect(itemType('list[bool] | None')).toEqual({
      container: 'list',
      kind: 'bool'
    });
    expect(itemType('dict[str, float]')).toEqual({
      container: 'dict',
      kind: 'float'
    });
    expect(itemType('Mapping[str, str]')).toEqual({
      container: 'dict',
      kind: 'str'
    });
    for (const other of [
      'list',
      '',
      'list[list[int]]',
      'list[Any]',
      'dict[int, str]',
      'tuple[int, str]',
      'list[int] | str'
    ]) {
      expect(itemType(other)).toBeNull();
    }
    expect(itemType(undefined)).toBeNull();
  });

  it('refuses items of another type, with the service message', () => {
    expect(code(NAMES, '[1, 2]')).toBe('listOfStr');
    expect(code(NAMES, '["a", null]')).toBe('listOfStr');
    expect(code(SIZES, '[1, 1.5]')).toBe('listOfInt');
    expect(code(SIZES, '[true]')).toBe('listOfInt');
    expect(code(RATES, '["0.5"]')).toBe('listOfFloat');
    expect(code(FLAGS, '[1]')).toBe('listOfBool');
    expect(code(WEIGHTS, '{"a": "x"}')).toBe('dictOfFloat');
    expect(code(MAYBE, '["1"]')).toBe('listOfInt');
    // the service's reason (catalog/parameters.py ITEMS_REFUSED), as a sentence
    expect(FORM_ERRORS.listOfStr).toBe(
      'Expected a list of strings, e.g. ["a", "b"].'
    );
    expect(FORM_ERRORS.dictOfFloat).toBe(
      'Expected an object whose values are numbers, e.g. {"key": 0.5}.'
    );
  });

  it('accepts items of the annotated type', () => {
    expect(coerce(NAMES, '["x", "y"]')).toEqual({
      ok: true,
      value: ['x', 'y']
    });
    expect(coerce(SIZES, '[1, 2.0]')).toEqual({ ok: true, value: [1, 2] });
    expect(coerce(RATES, '[1, 0.5]')).toEqual({ ok: true, value: [1, 0.5] });
    expect(coerce(FLAGS, '[false]')).toEqual({ ok: true, value: [false] });
    expect(coerce(WEIGHTS, '{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(coerce(MAYBE, '')).toEqual({ ok: true, value: null });
    expect(coerce(NAMES, '[]')).toEqual({ ok: true, value: [] });
  });

  it('shows the translated message in the form', () => {
    const { trans, seen } = bundle();
    const checked = validateForm([NAMES], { names: '[1, 2]' });
    expect(checked.codes).toEqual({ names: 'listOfStr' });
    expect(checked.parameters).toEqual({});
    expect(formErrorText(trans, checked.codes.names)).toBe(
      FORM_ERRORS.listOfStr
    );
    expect(seen).toEqual([FORM_ERRORS.listOfStr]);
  });
});

describe('numbers that are not finite', () => {
  it('says 1e999 is not a finite number', () => {
    expect(code(RATE, '1e999')).toBe('notFinite');
    expect(code(RATE, '-1e400')).toBe('notFinite');
    expect(code(RATE, 'Infinity')).toBe('notFinite');
    expect(code(param('xs', 'list', 'list', '[]', []), '[1e999]')).toBe(
      'notFinite'
    );
    expect(FORM_ERRORS.notFinite).toMatch(/^Not a finite number/);
  });

  it('names text the browser could not read instead of asking for a value', () => {
    // a number input holding 1e999 reports '' and validity.badInput
    expect(coerce(RATE, '', { badInput: true })).toEqual({
      ok: false,
      code: 'badNumber',
      error: FORM_ERRORS.badNumber
    });
    expect(coerce(N, '', { badInput: true }).ok).toBe(false);
    expect(coerce(RATE, '')).toMatchObject({ ok: false, code: 'required' });
    const checked = validateForm(
      [RATE, N],
      { rate: '', n: '4' },
      new Set(['rate'])
    );
    expect(checked.codes).toEqual({ rate: 'badNumber' });
    expect(checked.parameters).toEqual({ n: 4 });
    expect(FORM_ERRORS.badNumber).toMatch(/^Not a finite number/);
    const { trans } = bundle();
    expect(formErrorText(trans, 'badNumber')).toBe(FORM_ERRORS.badNumber);
    expect(formErrorText(trans, 'notFinite')).toBe(FORM_ERRORS.notFinite);
  });
});

describe('a free name for the new notebook', () => {
  const inFolder = (names: string[]) => {
    const asked: string[] = [];
    const exists = async (name: string): Promise<boolean> => {
      asked.push(name);
      return names.includes(name);
    };
    return { exists, asked };
  };

  it('keeps the name when it is free', async () => {
    const { exists, asked } = inFolder(['other.ipynb']);
    await expect(freeNotebookName('report.ipynb', exists)).resolves.toBe(
      'report.ipynb'
    );
    expect(asked).toEqual(['report.ipynb']);
  });

  it('numbers it when it is taken', async () => {
    const { exists } = inFolder(['report.ipynb', 'report-1.ipynb']);
    await expect(freeNotebookName('report.ipynb', exists)).resolves.toBe(
      'report-2.ipynb'
    );
    await expect(freeNotebookName('report', exists)).resolves.toBe(
      'report-2.ipynb'
    );
  });

  it('counts on from a number the name has', async () => {
    const { exists } = inFolder(['report-7.ipynb']);
    await expect(freeNotebookName('report-7.ipynb', exists)).resolves.toBe(
      'report-8.ipynb'
    );
  });

  it('gives up after the limit, and passes failures on', async () => {
    const { exists, asked } = inFolder(
      ['a.ipynb'].concat(
        Array.from({ length: 9 }, (_, i) => `a-${i + 1}.ipynb`)
      )
    );
    await expect(freeNotebookName('a', exists, 5)).resolves.toBeNull();
    expect(asked).toHaveLength(5);
    await expect(
      freeNotebookName('a', async () => {
        throw new Error('server gone');
      })
    ).rejects.toThrow('server gone');
  });
});

describe("the service's refusals in the form's words", () => {
  const LABELS = {
    target_directory: 'Target folder',
    new_name: 'New name',
    overwrite: 'Overwrite an existing file'
  };

  it('puts "the file exists" at the name field, with the checkbox to tick', () => {
    const { trans } = bundle();
    const error = new TemplatesApiError(
      409,
      "'x.ipynb' already exists in the server of 'alice'; set overwrite to replace it, or choose another new_name.",
      undefined,
      'new_name'
    );
    const placed = placeServiceError(trans, error, LABELS, ['n']);
    expect(placed.fields).toEqual({
      new_name:
        'A file of this name already exists in the target folder. Choose another name, or tick "Overwrite an existing file".'
    });
    expect(placed.summary).toBe('Please correct the highlighted fields.');
    expect(placed.fields.new_name).not.toMatch(/new_name|set overwrite/);
  });

  it('marks the field a 400 names, in the form labels', () => {
    const { trans } = bundle();
    const error = new TemplatesApiError(
      400,
      "target_directory is refused: hidden files and folders (names starting with '.') are not allowed.",
      undefined,
      'target_directory'
    );
    const placed = placeServiceError(trans, error, LABELS, []);
    expect(placed.fields).toEqual({
      target_directory:
        '"Target folder" is refused: hidden files and folders (names starting with \'.\') are not allowed.'
    });
  });

  it('marks parameters from details and keeps the rest in the summary', () => {
    const { trans } = bundle();
    const error = new TemplatesApiError(
      400,
      '2 parameters are invalid: names: bad; ghost: not a parameter of this template',
      {
        parameters: { names: 'bad', ghost: 'not a parameter of this template' }
      },
      'parameters'
    );
    const placed = placeServiceError(trans, error, LABELS, ['names']);
    expect(placed.fields).toEqual({ names: 'bad' });
    expect(placed.summary).toBe(
      'Please correct the highlighted fields.\nghost: not a parameter of this template'
    );
  });

  it('shows an error about no field as the summary, relabelled', () => {
    const { trans } = bundle();
    const error = new TemplatesApiError(503, 'The store is unavailable.');
    expect(error.field).toBeNull();
    expect(placeServiceError(trans, error, LABELS, [])).toEqual({
      fields: {},
      summary: 'The store is unavailable.'
    });
    expect(withLabels('use overwrite=true or another new_name', LABELS)).toBe(
      'use tick "Overwrite an existing file" or another "New name"'
    );
  });
});

describe('destructive dialogs', () => {
  it('asks before cancelling a run, the safe button first and default', () => {
    const { trans, seen } = bundle();
    const spec = cancelRunDialog(trans, 'reports/train.ipynb');
    expect(spec.defaultButton).toBe(0);
    expect(spec.keepLabel).toBe('Keep running');
    expect(spec.confirmLabel).toBe('Cancel run');
    expect(spec.body).toContain('"reports/train.ipynb"');
    // every text went through the translation bundle
    expect(seen).toHaveLength(4);
  });

  it('asks before discarding the job form, Keep editing first', () => {
    const { trans } = bundle();
    const spec = discardJobDialog(trans);
    expect(spec.defaultButton).toBe(0);
    expect(spec.keepLabel).toBe('Keep editing');
    expect(spec.confirmLabel).toBe('Discard');
  });

  it('focuses Cancel in the Delete-template dialog', () => {
    const { trans } = bundle();
    const spec = deleteTemplateDialog(trans, 'ml/a.ipynb');
    expect(spec.defaultButton).toBe(0);
    expect(spec.keepLabel).toBe('Cancel');
    expect(spec.confirmLabel).toBe('Delete');
    expect(spec.body).toContain('"ml/a.ipynb"');
  });
});

describe('a created notebook opens clean', () => {
  const NOTEBOOK = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'python3' },
      language_info: { name: 'python' },
      papermill: { parameters: { n: 1 } }
    },
    cells: [{ id: 'a', cell_type: 'code', source: 'n = 1', metadata: {} }]
  };

  it('tells the kernel metadata Lab sets from any other change', () => {
    const withKernel = {
      ...NOTEBOOK,
      metadata: {
        ...NOTEBOOK.metadata,
        kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)' },
        language_info: { name: 'python', version: '3.11.2' }
      }
    };
    expect(onlyKernelMetadataChanged(NOTEBOOK, withKernel)).toBe(true);
    expect(
      onlyKernelMetadataChanged(NOTEBOOK, {
        ...withKernel,
        cells: [{ ...NOTEBOOK.cells[0], source: 'n = 2' }]
      })
    ).toBe(false);
    expect(
      onlyKernelMetadataChanged(NOTEBOOK, {
        ...NOTEBOOK,
        metadata: { ...NOTEBOOK.metadata, papermill: {} }
      })
    ).toBe(false);
  });

  /** A notebook model as far as keepCleanOnKernelMetadata reads it. */
  function opened(): {
    widget: IOpenedNotebook;
    set: (key: string, value: unknown) => void;
  } {
    const slots: Array<(sender: unknown, change: { key: string }) => void> = [];
    let json: Record<string, unknown> = JSON.parse(JSON.stringify(NOTEBOOK));
    const model = {
      dirty: false,
      toJSON: () => json,
      metadataChanged: {
        connect: (slot: (typeof slots)[0]) => slots.push(slot),
        disconnect: (slot: (typeof slots)[0]) =>
          slots.splice(slots.indexOf(slot), 1)
      }
    };
    const set = (key: string, value: unknown): void => {
      json = {
        ...json,
        metadata: { ...(json.metadata as object), [key]: value }
      };
      for (const slot of [...slots]) {
        slot(model, { key });
      }
      model.dirty = true; // as Lab's model does, after telling of the change
    };
    const widget = {
      isDisposed: false,
      context: { ready: Promise.resolve(), model }
    };
    return { widget, set };
  }

  const tick = () => new Promise(resolve => setTimeout(resolve, 0));

  it('is clean after Lab sets the kernel metadata, dirty after an edit', async () => {
    const { widget, set } = opened();
    await keepCleanOnKernelMetadata(widget);
    set('kernelspec', {
      name: 'python3',
      display_name: 'Python 3 (ipykernel)'
    });
    await tick();
    expect(widget.context.model.dirty).toBe(false);
    set('authors', ['me']);
    await tick();
    expect(widget.context.model.dirty).toBe(true);
    // once the user has changed something, nothing is marked clean any more
    set('language_info', { name: 'python', version: '3.11' });
    await tick();
    expect(widget.context.model.dirty).toBe(true);
  });
});
