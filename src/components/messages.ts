import { TranslationBundle } from '@jupyterlab/translation';

import type { FormErrorCode, PathErrorCode } from '../form';

/**
 * The translated message of a parameter error code (see `FORM_ERRORS`).
 */
export function formErrorText(
  trans: TranslationBundle,
  code: FormErrorCode
): string {
  switch (code) {
    case 'required':
      return trans.__('A value is required.');
    case 'notInteger':
      return trans.__('Expected a whole number, e.g. 42.');
    case 'unsafeInteger':
      return trans.__('This whole number is too large to be sent exactly.');
    case 'notNumber':
      return trans.__('Expected a number, e.g. 0.5 or 1e-3.');
    case 'notFinite':
      return trans.__(
        'Not a finite number (NaN, Infinity and numbers beyond ±1.8e308 are not allowed).'
      );
    case 'badNumber':
      return trans.__(
        'Not a finite number: enter digits such as 0.5, -2 or 1e-3, within ±1.8e308.'
      );
    case 'outOfRange':
      return trans.__('The number is out of range.');
    case 'notBoolean':
      return trans.__('Expected true or false.');
    case 'invalidJson':
      return trans.__('Not valid JSON.');
    case 'notList':
      return trans.__('Expected a JSON list, e.g. [1, 2].');
    case 'notObject':
      return trans.__('Expected a JSON object, e.g. {"key": 1}.');
    case 'nulCharacter':
      return trans.__(
        'The text contains a NUL character (U+0000), which is not allowed.'
      );
    case 'invalidUnicode':
      return trans.__('The text contains invalid Unicode (a lone surrogate).');
    case 'tooDeep':
      return trans.__('Lists and objects may nest at most 32 levels deep.');
    case 'listOfStr':
      return trans.__('Expected a list of strings, e.g. ["a", "b"].');
    case 'listOfInt':
      return trans.__('Expected a list of whole numbers, e.g. [1, 2].');
    case 'listOfFloat':
      return trans.__('Expected a list of numbers, e.g. [0.5, 1].');
    case 'listOfBool':
      return trans.__(
        'Expected a list of true/false values, e.g. [true, false].'
      );
    case 'dictOfStr':
      return trans.__(
        'Expected an object whose values are strings, e.g. {"key": "a"}.'
      );
    case 'dictOfInt':
      return trans.__(
        'Expected an object whose values are whole numbers, e.g. {"key": 1}.'
      );
    case 'dictOfFloat':
      return trans.__(
        'Expected an object whose values are numbers, e.g. {"key": 0.5}.'
      );
    case 'dictOfBool':
      return trans.__(
        'Expected an object whose values are true or false, e.g. {"key": true}.'
      );
    default:
      return trans.__('Invalid value.');
  }
}

/**
 * The translated message of a path error code (see `PATH_ERRORS`).
 */
export function pathErrorText(
  trans: TranslationBundle,
  code: PathErrorCode
): string {
  switch (code) {
    case 'empty':
      return trans.__('A name is required.');
    case 'tooLong':
      return trans.__('The path is longer than 1024 characters.');
    case 'absolute':
      return trans.__(
        "The path must be relative to your server's root folder (no leading '/' or '~')."
      );
    case 'hasFolder':
      return trans.__(
        'A file name without folders; choose the folder separately.'
      );
    case 'segmentTooLong':
      return trans.__('A name is longer than 255 characters.');
    case 'control':
      return trans.__('Control characters are not allowed.');
    case 'slash':
      return trans.__('Backslashes and look-alike slashes are not allowed.');
    case 'dots':
      return trans.__("'.' and '..' are not allowed.");
    case 'hidden':
      return trans.__(
        "Hidden files and folders (names starting with '.') are not allowed."
      );
    case 'spaces':
      return trans.__('Names may not start or end with spaces.');
    default:
      return trans.__('Invalid name.');
  }
}
