import type { ParameterType, TemplateParameter } from '../api/types';
import {
  FORM_ERRORS,
  MAX_DEPTH,
  coerce,
  folderProblem,
  initialValue,
  isNullable,
  isValidFolder,
  isValidNotebookName,
  normalizeFolder,
  notebookFileName,
  notebookNameProblem,
  validateForm
} from '../form';

function param(
  type: ParameterType,
  defaultSource: string,
  defaultValue: unknown,
  extra: Partial<TemplateParameter> = {}
): TemplateParameter {
  return {
    name: 'p',
    type,
    default: defaultSource,
    default_value: defaultValue,
    help: '',
    ...extra
  };
}

const INT = param('int', '10', 10);
const FLOAT = param('float', '0.5', 0.5);
const BOOL = param('bool', 'True', true);
const STR = param('str', '"iris"', 'iris');
const LIST = param('list', '[1, 2]', [1, 2]);
const DICT = param('dict', '{"a": 1}', { a: 1 });
const ANY = param('any', '(1, "x")', [1, 'x']);

function value(p: TemplateParameter, raw: string | boolean): unknown {
  const result = coerce(p, raw);
  if (!result.ok) {
    throw new Error(`refused: ${result.error}`);
  }
  return result.value;
}

function code(p: TemplateParameter, raw: string | boolean): string {
  const result = coerce(p, raw);
  if (result.ok) {
    throw new Error(`accepted: ${JSON.stringify(result.value)}`);
  }
  expect(result.error).toBe(FORM_ERRORS[result.code]);
  return result.code;
}

describe('initialValue', () => {
  it('starts bool parameters from their default', () => {
    expect(initialValue(BOOL)).toBe(true);
    expect(initialValue(param('bool', 'False', false))).toBe(false);
    expect(initialValue(param('bool', 'None', null))).toBe(false);
  });

  it('starts numbers from the default text', () => {
    expect(initialValue(INT)).toBe('10');
    expect(initialValue(FLOAT)).toBe('0.5');
    expect(initialValue(param('float', '1e-3', 0.001))).toBe('1e-3');
    expect(initialValue(param('int', '-3', -3))).toBe('-3');
    // Python text that is not number text: the value
    expect(initialValue(param('int', '1_000', 1000))).toBe('1000');
    expect(initialValue(param('int', 'None', null))).toBe('');
    // not a literal: the source text
    expect(initialValue(param('int', '2 ** 10', null))).toBe('2 ** 10');
  });

  it('starts strings from the string value', () => {
    expect(initialValue(STR)).toBe('iris');
    expect(initialValue(param('str', "'a \\'q\\''", "a 'q'"))).toBe("a 'q'");
    expect(initialValue(param('str', 'None', null))).toBe('');
    expect(initialValue(param('str', 'os.getcwd()', null))).toBe('os.getcwd()');
  });

  it('starts JSON parameters from pretty JSON', () => {
    expect(initialValue(LIST)).toBe('[\n  1,\n  2\n]');
    expect(initialValue(DICT)).toBe('{\n  "a": 1\n}');
    expect(initialValue(ANY)).toBe('[\n  1,\n  "x"\n]');
    expect(initialValue(param('any', '3', 3))).toBe('3');
    expect(initialValue(param('any', 'None', null))).toBe('');
    expect(initialValue(param('list', 'list(range(3))', null))).toBe(
      'list(range(3))'
    );
  });

  it('gives initial values that pass coerce', () => {
    for (const p of [INT, FLOAT, BOOL, STR, LIST, DICT, ANY]) {
      expect(coerce(p, initialValue(p)).ok).toBe(true);
    }
    expect(value(LIST, initialValue(LIST))).toEqual([1, 2]);
    expect(value(DICT, initialValue(DICT))).toEqual({ a: 1 });
  });
});

describe('coerce int', () => {
  it('accepts integer text, spaces around', () => {
    expect(value(INT, '12')).toBe(12);
    expect(value(INT, ' 12 ')).toBe(12);
    expect(value(INT, '-7')).toBe(-7);
    expect(value(INT, '+7')).toBe(7);
    expect(value(INT, '007')).toBe(7);
    expect(Object.is(value(INT, '-0'), 0)).toBe(true);
    expect(value(INT, String(Number.MAX_SAFE_INTEGER))).toBe(
      Number.MAX_SAFE_INTEGER
    );
  });

  it('refuses other text', () => {
    expect(code(INT, '1e3')).toBe('notInteger');
    expect(code(INT, '1.0')).toBe('notInteger');
    expect(code(INT, '1.5')).toBe('notInteger');
    expect(code(INT, '0x10')).toBe('notInteger');
    expect(code(INT, '1 000')).toBe('notInteger');
    expect(code(INT, 'ten')).toBe('notInteger');
    expect(code(INT, '١٢')).toBe('notInteger'); // Arabic-Indic digits
    expect(code(INT, true)).toBe('notInteger');
  });

  it('refuses integers beyond the safe range', () => {
    expect(code(INT, '9007199254740992')).toBe('unsafeInteger');
    expect(code(INT, '-12345678901234567890')).toBe('unsafeInteger');
  });

  it('needs a value unless the default is None', () => {
    expect(code(INT, '')).toBe('required');
    expect(code(INT, '   ')).toBe('required');
    expect(value(param('int', 'None', null), '')).toBeNull();
    expect(
      value(param('int', '5', 5, { annotation: 'Optional[int]' }), ' ')
    ).toBeNull();
  });
});

describe('coerce float', () => {
  it('accepts number text', () => {
    expect(value(FLOAT, '0.5')).toBe(0.5);
    expect(value(FLOAT, ' .5 ')).toBe(0.5);
    expect(value(FLOAT, '5.')).toBe(5);
    expect(value(FLOAT, '-2')).toBe(-2);
    expect(value(FLOAT, '1e-3')).toBe(0.001);
    expect(value(FLOAT, '1E3')).toBe(1000);
  });

  it('refuses NaN, Infinity and out-of-range numbers', () => {
    expect(code(FLOAT, 'NaN')).toBe('notFinite');
    expect(code(FLOAT, 'nan')).toBe('notFinite');
    expect(code(FLOAT, 'Infinity')).toBe('notFinite');
    expect(code(FLOAT, '-inf')).toBe('notFinite');
    expect(code(FLOAT, '1e400')).toBe('notFinite');
  });

  it('refuses other text', () => {
    expect(code(FLOAT, 'abc')).toBe('notNumber');
    expect(code(FLOAT, '1,5')).toBe('notNumber');
    expect(code(FLOAT, '0x1p3')).toBe('notNumber');
    expect(code(FLOAT, '.')).toBe('notNumber');
    expect(code(FLOAT, '')).toBe('required');
    expect(code(FLOAT, false)).toBe('notNumber');
    expect(value(param('float', 'None', null), '')).toBeNull();
  });
});

describe('coerce bool', () => {
  it('takes booleans as they are', () => {
    expect(value(BOOL, true)).toBe(true);
    expect(value(BOOL, false)).toBe(false);
  });

  it('reads the service’s boolean words', () => {
    expect(value(BOOL, 'true')).toBe(true);
    expect(value(BOOL, ' TRUE ')).toBe(true);
    expect(value(BOOL, 'yes')).toBe(true);
    expect(value(BOOL, '1')).toBe(true);
    expect(value(BOOL, 'False')).toBe(false);
    expect(value(BOOL, 'no')).toBe(false);
    expect(value(BOOL, '0')).toBe(false);
    expect(code(BOOL, 'maybe')).toBe('notBoolean');
    expect(code(BOOL, '')).toBe('notBoolean');
    expect(value(param('bool', 'None', null), '')).toBeNull();
  });
});

describe('coerce str', () => {
  it('keeps the text as is', () => {
    expect(value(STR, ' a b ')).toBe(' a b ');
    expect(value(STR, '"quoted" \\ and\nnewline')).toBe(
      '"quoted" \\ and\nnewline'
    );
    expect(value(STR, '')).toBe('');
    expect(value(STR, '   ')).toBe('   ');
    expect(value(STR, '😀')).toBe('😀');
    expect(value(STR, true)).toBe('true');
  });

  it('sends null for an empty None default', () => {
    expect(value(param('str', 'None', null), '')).toBeNull();
  });

  it('refuses what the service cannot store', () => {
    expect(code(STR, 'a\u0000b')).toBe('nulCharacter');
    expect(code(STR, 'a\ud800b')).toBe('invalidUnicode');
    expect(code(STR, '\udc00')).toBe('invalidUnicode');
  });
});

describe('coerce list and dict', () => {
  it('parses JSON arrays and objects', () => {
    expect(value(LIST, '[1, "a", null, {"b": [true]}]')).toEqual([
      1,
      'a',
      null,
      { b: [true] }
    ]);
    expect(value(LIST, ' [] ')).toEqual([]);
    expect(value(DICT, '{"a": {"b": 1.5}}')).toEqual({ a: { b: 1.5 } });
    expect(value(DICT, '{}')).toEqual({});
  });

  it('refuses the other kind and bad JSON', () => {
    expect(code(LIST, '{"a": 1}')).toBe('notList');
    expect(code(LIST, '3')).toBe('notList');
    expect(code(LIST, '"[1]"')).toBe('notList');
    expect(code(DICT, '[1]')).toBe('notObject');
    expect(code(DICT, 'null')).toBe('notObject');
    expect(code(LIST, "['single']")).toBe('invalidJson');
    expect(code(LIST, '[1, 2,]')).toBe('invalidJson');
    expect(code(LIST, '[NaN]')).toBe('invalidJson');
    expect(code(DICT, '{"a": Infinity}')).toBe('invalidJson');
    expect(code(LIST, '(1, 2)')).toBe('invalidJson');
    expect(code(LIST, '[1e400]')).toBe('notFinite');
    expect(code(DICT, '{"a\\u0000": 1}')).toBe('nulCharacter');
    expect(code(LIST, '["\\ud800"]')).toBe('invalidUnicode');
  });

  it('needs a value unless nullable', () => {
    expect(code(LIST, '')).toBe('required');
    expect(code(DICT, ' ')).toBe('required');
    const nullable = param('list', 'None', null, {
      annotation: 'Optional[list]'
    });
    expect(value(nullable, '')).toBeNull();
    expect(value(nullable, 'null')).toBeNull();
  });

  it('refuses nesting deeper than the service allows', () => {
    const ok = '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH);
    const deep = '['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1);
    expect(coerce(LIST, ok).ok).toBe(true);
    expect(code(LIST, deep)).toBe('tooDeep');
  });
});

describe('coerce any', () => {
  it('parses JSON, or keeps the text', () => {
    expect(value(ANY, '12')).toBe(12);
    expect(value(ANY, '1.5')).toBe(1.5);
    expect(value(ANY, 'true')).toBe(true);
    expect(value(ANY, 'null')).toBeNull();
    expect(value(ANY, '"quoted"')).toBe('quoted');
    expect(value(ANY, '[1, {"a": 2}]')).toEqual([1, { a: 2 }]);
    expect(value(ANY, 'hello world')).toBe('hello world');
    expect(value(ANY, ' [broken ')).toBe(' [broken ');
    expect(value(ANY, false)).toBe(false);
    expect(value(ANY, '')).toBe('');
    expect(value(param('any', 'None', null), '')).toBeNull();
  });

  it('refuses unsafe integers and unstorable text', () => {
    expect(code(ANY, '12345678901234567890')).toBe('unsafeInteger');
    expect(code(ANY, 'a\u0000')).toBe('nulCharacter');
    expect(code(ANY, '["\\u0000"]')).toBe('nulCharacter');
  });
});

describe('non-literal defaults', () => {
  const computed = param('list', 'list(range(3))', null);

  it('are not sent when empty or unchanged', () => {
    expect(coerce(computed, '')).toEqual({ ok: true, value: undefined });
    expect(coerce(computed, ' list(range(3)) ')).toEqual({
      ok: true,
      value: undefined
    });
    expect(coerce(param('int', '2 ** 10', null), '')).toEqual({
      ok: true,
      value: undefined
    });
  });

  it('are replaced by a valid value', () => {
    expect(value(computed, '[0, 1]')).toEqual([0, 1]);
    expect(code(computed, 'range(2)')).toBe('invalidJson');
  });

  it('are nullable when None is mentioned', () => {
    expect(isNullable(param('int', '0', 0, { annotation: 'int | None' }))).toBe(
      true
    );
    expect(isNullable(param('int', '0', 0, { annotation: 'int' }))).toBe(false);
    expect(isNullable(param('any', 'None', null))).toBe(true);
  });
});

describe('validateForm', () => {
  const params: TemplateParameter[] = [
    { ...INT, name: 'n' },
    { ...FLOAT, name: 'alpha' },
    { ...BOOL, name: 'verbose' },
    { ...STR, name: 'dataset' },
    { ...LIST, name: 'layers' },
    { ...DICT, name: 'options' },
    param('int', 'None', null, { name: 'seed' }),
    param('any', 'compute()', null, { name: 'extra' })
  ];

  it('sends every parameter, from the values or the initial ones', () => {
    const result = validateForm(params, {
      n: '3',
      verbose: false,
      layers: '[8, 4]'
    });
    expect(result.errors).toEqual({});
    expect(result.codes).toEqual({});
    expect(result.parameters).toEqual({
      n: 3,
      alpha: 0.5,
      verbose: false,
      dataset: 'iris',
      layers: [8, 4],
      options: { a: 1 },
      seed: null
    });
    // declared order; the non-literal default left out
    expect(Object.keys(result.parameters)).toEqual([
      'n',
      'alpha',
      'verbose',
      'dataset',
      'layers',
      'options',
      'seed'
    ]);
  });

  it('collects every error', () => {
    const result = validateForm(params, {
      n: '1e3',
      alpha: 'NaN',
      layers: '{}',
      options: '{bad',
      seed: '4',
      extra: '{"k": 1}'
    });
    expect(result.codes).toEqual({
      n: 'notInteger',
      alpha: 'notFinite',
      layers: 'notList',
      options: 'invalidJson'
    });
    expect(result.errors).toEqual({
      n: FORM_ERRORS.notInteger,
      alpha: FORM_ERRORS.notFinite,
      layers: FORM_ERRORS.notList,
      options: FORM_ERRORS.invalidJson
    });
    expect(result.parameters).toEqual({
      verbose: true,
      dataset: 'iris',
      seed: 4,
      extra: { k: 1 }
    });
  });

  it('handles a template without parameters', () => {
    expect(validateForm([], {})).toEqual({
      parameters: {},
      errors: {},
      codes: {},
      secrets: {}
    });
  });

  it('sends secret parameters as secrets only, and only when given', () => {
    const token = { ...STR, name: 'token', default: '"dev"', secret: true };
    const key = { ...STR, name: 'key', default: '""', secret: true };
    const withSecrets = [{ ...INT, name: 'n' }, token, key];
    expect(initialValue(token)).toBe(''); // its default is not shown
    const result = validateForm(withSecrets, { n: '2', token: 's3cr3t' });
    expect(result.parameters).toEqual({ n: 2 });
    expect(result.secrets).toEqual({ token: 's3cr3t' });
    expect(result.errors).toEqual({});
  });
});

describe('paths', () => {
  it('accepts relative folders, the root included', () => {
    for (const ok of [
      '',
      'notebooks',
      'notebooks/runs',
      'a//b/',
      'my folder/sub',
      'données',
      'a.b/c..d'
    ]) {
      expect([ok, folderProblem(ok)]).toEqual([ok, null]);
      expect(isValidFolder(ok)).toBe(true);
    }
  });

  it('refuses what the service refuses', () => {
    const cases: [string, string][] = [
      ['/abs', 'absolute'],
      ['~/x', 'absolute'],
      ['a/../b', 'dots'],
      ['..', 'dots'],
      ['a/./b', 'dots'],
      ['a\\b', 'slash'],
      ['a\uff0fb', 'slash'], // fullwidth slash
      ['\uff0e\uff0e', 'dots'], // fullwidth dots
      ['.hidden/x', 'hidden'],
      ['a/.git', 'hidden'],
      ['a\u0001b', 'control'],
      ['a\nb', 'control'],
      ['a\u200bb', 'control'], // zero-width space (Cf)
      ['a\u2028b', 'control'],
      [' lead', 'spaces'],
      ['trail /x', 'spaces'],
      ['x'.repeat(256), 'segmentTooLong'],
      [('a'.repeat(200) + '/').repeat(6), 'tooLong']
    ];
    for (const [path, problem] of cases) {
      expect([path, folderProblem(path)]).toEqual([path, problem]);
      expect(isValidFolder(path)).toBe(false);
    }
  });

  it('counts code points as the service does', () => {
    expect(isValidFolder('😀'.repeat(255))).toBe(true);
    expect(isValidFolder('😀'.repeat(256))).toBe(false);
  });

  it('checks notebook names', () => {
    expect(isValidNotebookName('run.ipynb')).toBe(true);
    expect(isValidNotebookName('run')).toBe(true);
    expect(isValidNotebookName('my run (2).ipynb')).toBe(true);
    expect(notebookNameProblem('')).toBe('empty');
    expect(notebookNameProblem('   ')).toBe('empty');
    expect(notebookNameProblem('a/b.ipynb')).toBe('hasFolder');
    expect(notebookNameProblem('.hidden.ipynb')).toBe('hidden');
    expect(notebookNameProblem('..')).toBe('dots');
    expect(notebookNameProblem('a\\b.ipynb')).toBe('slash');
    expect(notebookNameProblem(' x.ipynb')).toBe('spaces');
    expect(isValidNotebookName('x\u0000.ipynb')).toBe(false);
  });

  it('names and normalizes like the service', () => {
    expect(notebookFileName('run')).toBe('run.ipynb');
    expect(notebookFileName('run.ipynb')).toBe('run.ipynb');
    expect(normalizeFolder('a//b/')).toBe('a/b');
    expect(normalizeFolder('')).toBe('');
  });
});
