/**
 * The parameter form's logic, without DOM: starting values, coercion of what the
 * user typed to the JSON the service expects, and the checks of the target folder
 * and the new notebook's name.
 *
 * It mirrors the service's rules (`jupyterhub_templates/catalog/parameters.py` and
 * `jupyterhub_templates/notebooks/paths.py`) so that invalid values are flagged
 * before submit; the service checks again and its 400 `details.parameters` are
 * shown against the fields (see `TemplatesApiError.fieldErrors`).
 *
 * Errors come as a code and an English message (`FORM_ERRORS[code]`, no
 * placeholders, so that the UI can translate either the message or, better, map
 * the code to its own `trans.__()` literal).
 */

import type { TemplateParameter } from './api/types';

/**
 * A field's value: `boolean` for a checkbox (bool parameters), the text typed
 * otherwise.
 */
export type FormValue = string | boolean;

/**
 * The English message of each error code.
 */
export const FORM_ERRORS = {
  required: 'A value is required.',
  notInteger: 'Expected a whole number, e.g. 42.',
  unsafeInteger: 'This whole number is too large to be sent exactly.',
  notNumber: 'Expected a number, e.g. 0.5 or 1e-3.',
  notFinite:
    'Not a finite number (NaN, Infinity and numbers beyond ±1.8e308 are not allowed).',
  badNumber:
    'Not a finite number: enter digits such as 0.5, -2 or 1e-3, within ±1.8e308.',
  outOfRange: 'The number is out of range.',
  notBoolean: 'Expected true or false.',
  invalidJson: 'Not valid JSON.',
  notList: 'Expected a JSON list, e.g. [1, 2].',
  notObject: 'Expected a JSON object, e.g. {"key": 1}.',
  nulCharacter:
    'The text contains a NUL character (U+0000), which is not allowed.',
  invalidUnicode: 'The text contains invalid Unicode (a lone surrogate).',
  tooDeep: 'Lists and objects may nest at most 32 levels deep.',
  listOfStr: 'Expected a list of strings, e.g. ["a", "b"].',
  listOfInt: 'Expected a list of whole numbers, e.g. [1, 2].',
  listOfFloat: 'Expected a list of numbers, e.g. [0.5, 1].',
  listOfBool: 'Expected a list of true/false values, e.g. [true, false].',
  dictOfStr: 'Expected an object whose values are strings, e.g. {"key": "a"}.',
  dictOfInt:
    'Expected an object whose values are whole numbers, e.g. {"key": 1}.',
  dictOfFloat:
    'Expected an object whose values are numbers, e.g. {"key": 0.5}.',
  dictOfBool:
    'Expected an object whose values are true or false, e.g. {"key": true}.'
} as const;

export type FormErrorCode = keyof typeof FORM_ERRORS;

/**
 * The outcome of {@link coerce}. `value: undefined` (on success) means "do not
 * send this parameter": the template keeps its own default.
 */
export type CoerceResult =
  | { ok: true; value: unknown }
  | { ok: false; code: FormErrorCode; error: string };

/**
 * Containers (lists and objects) may nest at most this deep (the service's
 * `MAX_DEPTH`).
 */
export const MAX_DEPTH = 32;

const INT_TEXT = /^[+-]?[0-9]+$/;
const FLOAT_TEXT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const NON_FINITE_TEXT = /^[+-]?(?:nan|inf|infinity)$/i;
const BOOL_TEXT: Record<string, boolean> = {
  true: true,
  yes: true,
  '1': true,
  false: false,
  no: false,
  '0': false
};
const OPTIONAL = /\b(?:None|Optional)\b/;

function fail(code: FormErrorCode): CoerceResult {
  return { ok: false, code, error: FORM_ERRORS[code] };
}

function ok(value: unknown): CoerceResult {
  return { ok: true, value };
}

/**
 * Whether the parameter accepts `null`: its default is `None` or its annotation
 * mentions `None`/`Optional` (as the service decides).
 */
export function isNullable(param: TemplateParameter): boolean {
  return (
    (param.default ?? '').trim() === 'None' ||
    OPTIONAL.test(param.annotation ?? '')
  );
}

/**
 * Whether the default is a literal the service could turn into JSON
 * (`default_value` set, or `None`).
 */
export function hasLiteralDefault(param: TemplateParameter): boolean {
  return (
    (param.default_value !== null && param.default_value !== undefined) ||
    (param.default ?? '').trim() === 'None'
  );
}

/**
 * The form's starting value for a parameter, from its default:
 * - bool: a boolean (`false` when the default is not `True`, e.g. `None`);
 * - int/float: the default's source text when it is valid number text, else the
 *   number `default_value` as text, `''` for `None`, else the source text;
 * - str: the string `default_value` (`''` for `None` or a non-literal default);
 * - list/dict/any: `default_value` as pretty JSON (2 spaces); `''` for `None`;
 *   the default's source text when it is not a literal.
 *
 * A non-literal default's source text (e.g. `list(range(3))`) left unchanged is
 * not sent (see {@link coerce}).
 */
export function initialValue(param: TemplateParameter): FormValue {
  if (param.secret) {
    return ''; // a secret's default is not shown, and an empty field sends none
  }
  const source = (param.default ?? '').trim();
  const value = param.default_value;
  switch (param.type) {
    case 'bool':
      return value === true || (value === undefined && source === 'True');
    case 'int':
    case 'float': {
      const text = param.type === 'int' ? INT_TEXT : FLOAT_TEXT;
      if (text.test(source)) {
        return source;
      }
      if (typeof value === 'number' && isFinite(value)) {
        return String(value);
      }
      return source === 'None' ? '' : source;
    }
    case 'str':
      if (typeof value === 'string') {
        return value;
      }
      return hasLiteralDefault(param) || !source ? '' : source;
    default:
      if (value !== null && value !== undefined) {
        return JSON.stringify(value, null, 2);
      }
      return source === 'None' ? '' : source;
  }
}

/**
 * What to send for the text or checkbox value `raw` of `param`, or why not.
 *
 * - `int`: ASCII digits with an optional sign (spaces around are ignored); not
 *   `1e3` nor `1.0`; at most `Number.MAX_SAFE_INTEGER` in size.
 * - `float`: number text (`0.5`, `.5`, `1e-3`, `-2`), finite (`1e999` and
 *   NaN/Infinity: `notFinite`).
 * - `bool`: a boolean, or the text true/false/yes/no/1/0 (any case).
 * - `str`: the text as is (no NUL character, no lone surrogate).
 * - `list` / `dict`: JSON text of an array / an object (`null` when nullable),
 *   whose items match an annotation such as `list[str]` or `dict[str, float]`
 *   (see {@link itemType}).
 * - `options.badInput` (int/float): the browser could not read the number
 *   typed (e.g. `1e999` in a number input): `badNumber`.
 * - `any`: the JSON value of the text, or the text itself when it is not JSON.
 *
 * Empty input (blank text; `''` for str): `null` when the parameter is nullable
 * (see {@link isNullable}); else `undefined` (not sent, the template keeps its
 * default) when the default is not a literal; else an error (`required`) for
 * int/float/list/dict, `''` for str and any.
 *
 * A value still equal to a non-literal default's source text is not sent either
 * (`undefined`).
 */
export function coerce(
  param: TemplateParameter,
  raw: FormValue,
  options: { badInput?: boolean } = {}
): CoerceResult {
  if (options.badInput && (param.type === 'int' || param.type === 'float')) {
    // a number field whose text the browser could not read as a finite number
    // (e.g. 1e999): it reports '' as the value, which is not what was typed
    return fail('badNumber');
  }
  if (typeof raw === 'boolean') {
    if (param.type === 'bool') {
      return ok(raw);
    }
    if (param.type === 'str') {
      return ok(String(raw));
    }
    if (param.type === 'any' || param.type === undefined) {
      return ok(raw);
    }
    return fail(
      param.type === 'int'
        ? 'notInteger'
        : param.type === 'float'
          ? 'notNumber'
          : param.type === 'list'
            ? 'notList'
            : 'notObject'
    );
  }

  const text = raw.trim();
  const empty = param.type === 'str' ? raw === '' : text === '';
  if (empty) {
    if (isNullable(param)) {
      return ok(null);
    }
    if (!hasLiteralDefault(param)) {
      return ok(undefined);
    }
    if (param.type === 'str' || param.type === 'any') {
      return ok('');
    }
    if (param.type === 'bool') {
      return fail('notBoolean');
    }
    return fail('required');
  }
  if (!hasLiteralDefault(param) && text === (param.default ?? '').trim()) {
    return ok(undefined);
  }

  switch (param.type) {
    case 'int':
      return toInt(text);
    case 'float':
      return toFloat(text);
    case 'bool': {
      const lowered = text.toLowerCase();
      return lowered in BOOL_TEXT ? ok(BOOL_TEXT[lowered]) : fail('notBoolean');
    }
    case 'str': {
      const problem = textProblem(raw);
      return problem ? fail(problem) : ok(raw);
    }
    case 'list':
    case 'dict': {
      const parsed = parseJson(text);
      if (!parsed.ok) {
        return parsed;
      }
      const value = parsed.value;
      if (value === null) {
        return isNullable(param)
          ? ok(null)
          : fail(param.type === 'list' ? 'notList' : 'notObject');
      }
      if (
        param.type === 'list' ? !Array.isArray(value) : !isPlainObject(value)
      ) {
        return fail(param.type === 'list' ? 'notList' : 'notObject');
      }
      const wanted = itemType(param.annotation);
      if (wanted && wanted.container === param.type) {
        return checkItems(value as unknown[] | Record<string, unknown>, wanted);
      }
      return parsed;
    }
    default: {
      // any (and a type this version does not know)
      if (INT_TEXT.test(text)) {
        return toInt(text);
      }
      const parsed = parseJson(text);
      if (parsed.ok) {
        return parsed;
      }
      if (parsed.code !== 'invalidJson') {
        return parsed;
      }
      const problem = textProblem(raw);
      return problem ? fail(problem) : ok(raw);
    }
  }
}

/** The item types an annotation such as `list[str]` may name. */
export type ItemKind = 'str' | 'int' | 'float' | 'bool';

const ITEM_KINDS: ReadonlyArray<string> = ['str', 'int', 'float', 'bool'];
const LIST_ANNOTATION =
  /^(?:typing\.)?(?:list|List|Sequence|Iterable|Collection)\[(\w+)\]$|^(?:typing\.)?(?:tuple|Tuple)\[(\w+),\.\.\.\]$/;
const DICT_ANNOTATION =
  /^(?:typing\.)?(?:dict|Dict|Mapping|MutableMapping)\[str,(\w+)\]$/;
const OPTIONAL_ANNOTATION = /^(?:typing\.)?Optional\[(.*)\]$/;

/**
 * What `annotation` asks of each item, as the service reads it
 * (`item_type` in `catalog/parameters.py`): `{container: 'list', kind}` for
 * `list[T]`, `List[T]`, `Sequence[T]`, `tuple[T, ...]`; `{container: 'dict',
 * kind}` for `dict[str, T]`, `Dict[str, T]`, `Mapping[str, T]`; T one of str,
 * int, float, bool, also inside `Optional[...]` or beside `| None`. `null` for
 * anything else (only the container is checked then).
 */
export function itemType(
  annotation: string | undefined | null
): { container: 'list' | 'dict'; kind: ItemKind } | null {
  let text = (annotation ?? '').replace(/\s+/g, '').replace(/^['"]|['"]$/g, '');
  const optional = OPTIONAL_ANNOTATION.exec(text);
  if (optional) {
    text = optional[1];
  }
  const parts = text.split('|').filter(part => part !== 'None');
  if (parts.length !== 1) {
    return null;
  }
  text = parts[0];
  const list = LIST_ANNOTATION.exec(text);
  if (list) {
    const kind = list[1] ?? list[2];
    return ITEM_KINDS.includes(kind)
      ? { container: 'list', kind: kind as ItemKind }
      : null;
  }
  const dict = DICT_ANNOTATION.exec(text);
  if (dict && ITEM_KINDS.includes(dict[1])) {
    return { container: 'dict', kind: dict[1] as ItemKind };
  }
  return null;
}

const ITEM_CODES: Record<string, FormErrorCode> = {
  'list:str': 'listOfStr',
  'list:int': 'listOfInt',
  'list:float': 'listOfFloat',
  'list:bool': 'listOfBool',
  'dict:str': 'dictOfStr',
  'dict:int': 'dictOfInt',
  'dict:float': 'dictOfFloat',
  'dict:bool': 'dictOfBool'
};

function checkItems(
  value: unknown[] | Record<string, unknown>,
  wanted: { container: 'list' | 'dict'; kind: ItemKind }
): CoerceResult {
  const items = Array.isArray(value) ? value : Object.values(value);
  const fits = (item: unknown): boolean => {
    switch (wanted.kind) {
      case 'str':
        return typeof item === 'string';
      case 'bool':
        return typeof item === 'boolean';
      case 'int':
        return typeof item === 'number' && Number.isInteger(item);
      default:
        return typeof item === 'number';
    }
  };
  return items.every(fits)
    ? ok(value)
    : fail(ITEM_CODES[`${wanted.container}:${wanted.kind}`]);
}

function toInt(text: string): CoerceResult {
  if (!INT_TEXT.test(text)) {
    return fail('notInteger');
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    return fail('unsafeInteger');
  }
  return ok(value === 0 ? 0 : value); // no -0
}

function toFloat(text: string): CoerceResult {
  if (!FLOAT_TEXT.test(text)) {
    return fail(NON_FINITE_TEXT.test(text) ? 'notFinite' : 'notNumber');
  }
  const value = Number(text);
  if (!isFinite(value)) {
    return fail('notFinite'); // e.g. 1e999
  }
  return ok(value);
}

function parseJson(text: string): CoerceResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('invalidJson');
  }
  const problem = jsonProblem(value, 0);
  return problem ? fail(problem) : ok(value);
}

function jsonProblem(value: unknown, depth: number): FormErrorCode | null {
  if (typeof value === 'string') {
    return textProblem(value);
  }
  if (typeof value === 'number') {
    return isFinite(value) ? null : 'notFinite'; // e.g. [1e999]
  }
  if (value === null || typeof value !== 'object') {
    return null;
  }
  if (depth >= MAX_DEPTH) {
    return 'tooDeep';
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) {
        return problem;
      }
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const problem = textProblem(key) ?? jsonProblem(item, depth + 1);
    if (problem) {
      return problem;
    }
  }
  return null;
}

/**
 * Why the service could not store a string: a NUL character or a lone surrogate.
 */
function textProblem(text: string): FormErrorCode | null {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0) {
      return 'nulCharacter';
    }
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        return 'invalidUnicode';
      }
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return 'invalidUnicode';
    }
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The outcome of {@link validateForm}.
 */
export type FormValidation = {
  /** What to send as `parameters`: every parameter, in declared order, except those not sent (see {@link coerce}). */
  parameters: Record<string, unknown>;
  /** The English message per invalid parameter name; `{}` when all are valid. */
  errors: Record<string, string>;
  /** The error code per invalid parameter name. */
  codes: Record<string, FormErrorCode>;
  /**
   * What to send as a run's `secrets`: the secret parameters given (never in
   * `parameters`, which are written into the notebook).
   */
  secrets: Record<string, string>;
};

/**
 * Check every field. All parameters are sent, changed or not (simpler and
 * explicit: the notebook records exactly what it ran with), except those
 * {@link coerce} leaves out (`undefined`: an empty or unchanged non-literal
 * default). A parameter missing from `values` gets its {@link initialValue}.
 * `badInput` names the number fields whose text the browser could not read
 * (`validity.badInput`, e.g. `1e999`): each is an error (`badNumber`).
 */
export function validateForm(
  params: ReadonlyArray<TemplateParameter>,
  values: Record<string, FormValue | undefined>,
  badInput: ReadonlySet<string> = new Set()
): FormValidation {
  const result: FormValidation = {
    parameters: {},
    errors: {},
    codes: {},
    secrets: {}
  };
  for (const param of params) {
    const raw = values[param.name];
    if (param.secret) {
      if (typeof raw === 'string' && raw !== '') {
        result.secrets[param.name] = raw;
      }
      continue;
    }
    const outcome = coerce(
      param,
      raw === undefined ? initialValue(param) : raw,
      { badInput: badInput.has(param.name) }
    );
    if (!outcome.ok) {
      result.errors[param.name] = outcome.error;
      result.codes[param.name] = outcome.code;
    } else if (outcome.value !== undefined) {
      result.parameters[param.name] = outcome.value;
    }
  }
  return result;
}

// -- paths ------------------------------------------------------------------

/** The longest path the service accepts (`MAX_PATH`), in characters. */
export const MAX_PATH = 1024;
/** The longest file or folder name (`MAX_SEGMENT`), in characters. */
export const MAX_SEGMENT = 255;

/**
 * The English message of each path problem.
 */
export const PATH_ERRORS = {
  empty: 'A name is required.',
  tooLong: 'The path is longer than 1024 characters.',
  absolute:
    "The path must be relative to your server's root folder (no leading '/' or '~').",
  hasFolder: 'A file name without folders; choose the folder separately.',
  segmentTooLong: 'A name is longer than 255 characters.',
  control: 'Control characters are not allowed.',
  slash: 'Backslashes and look-alike slashes are not allowed.',
  dots: "'.' and '..' are not allowed.",
  hidden: "Hidden files and folders (names starting with '.') are not allowed.",
  spaces: 'Names may not start or end with spaces.'
} as const;

export type PathErrorCode = keyof typeof PATH_ERRORS;

const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function length(text: string): number {
  return Array.from(text).length; // code points, as Python counts
}

function segmentProblem(segment: string): PathErrorCode | null {
  if (length(segment) > MAX_SEGMENT) {
    return 'segmentTooLong';
  }
  if (CONTROL.test(segment)) {
    return 'control';
  }
  const folded = segment.normalize('NFKC');
  if (segment.includes('\\') || folded.includes('\\') || folded.includes('/')) {
    return 'slash';
  }
  const trimmed = folded.trim();
  if (trimmed === '.' || trimmed === '..') {
    return 'dots';
  }
  if (segment.startsWith('.') || folded.startsWith('.')) {
    return 'hidden';
  }
  if (segment !== segment.trim()) {
    return 'spaces';
  }
  return null;
}

/**
 * Why the service would refuse `path` as a folder (`target_directory`), or
 * `null`. The empty path is the server's root folder and is valid.
 */
export function folderProblem(path: string): PathErrorCode | null {
  if (length(path) > MAX_PATH) {
    return 'tooLong';
  }
  if (path.startsWith('/') || path.startsWith('~')) {
    return 'absolute';
  }
  for (const segment of path.split('/')) {
    if (segment !== '') {
      const problem = segmentProblem(segment);
      if (problem) {
        return problem;
      }
    }
  }
  return null;
}

/**
 * Why the service would refuse `name` as a new notebook's name (`new_name`), or
 * `null`. `.ipynb` may be left out (see {@link notebookFileName}).
 */
export function notebookNameProblem(name: string): PathErrorCode | null {
  if (name.trim() === '') {
    return 'empty';
  }
  if (name.includes('/')) {
    return 'hasFolder';
  }
  return folderProblem(name);
}

/** Whether `path` is a folder the service accepts (`''` is the root folder). */
export function isValidFolder(path: string): boolean {
  return folderProblem(path) === null;
}

/** Whether `name` is a notebook file name the service accepts. */
export function isValidNotebookName(name: string): boolean {
  return notebookNameProblem(name) === null;
}

/** `name` with `.ipynb` added when missing, as the service names the file. */
export function notebookFileName(name: string): string {
  return name.endsWith('.ipynb') ? name : `${name}.ipynb`;
}

/** `path` cleaned as the service does: no empty segments, no final '/'. */
export function normalizeFolder(path: string): string {
  return path
    .split('/')
    .filter(segment => segment !== '')
    .join('/');
}

/**
 * A file name for a new notebook in a folder, built from `name`: `name`
 * itself (with `.ipynb`) when `exists` says it is free, else `name-1.ipynb`,
 * `name-2.ipynb`, … (a name already ending in `-N` counts on from N), the
 * first one free, trying at most `limit` names; `null` when none of those is
 * free. `exists(fileName)` answers for a file name in the folder (e.g. through
 * Lab's contents manager); its rejection rejects this too.
 */
export async function freeNotebookName(
  name: string,
  exists: (fileName: string) => Promise<boolean>,
  limit = 100
): Promise<string | null> {
  const file = notebookFileName(name.trim());
  if (!(await exists(file))) {
    return file;
  }
  const stem = file.slice(0, -'.ipynb'.length);
  const numbered = /^(.*)-([0-9]{1,6})$/.exec(stem);
  const base = numbered ? numbered[1] : stem;
  let next = numbered ? Number(numbered[2]) + 1 : 1;
  for (let tried = 1; tried < limit; tried++, next++) {
    const candidate = `${base}-${next}.ipynb`;
    if (!(await exists(candidate))) {
      return candidate;
    }
  }
  return null;
}
