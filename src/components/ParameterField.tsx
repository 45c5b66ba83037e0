import * as React from 'react';

import type { TemplateParameter } from '../api';
import type { FormValue } from '../form';
import { useTemplatesContext } from './context';

/**
 * The input for one template parameter, chosen by its type, with its help
 * text and error.
 */
export function ParameterField(props: {
  param: TemplateParameter;
  value: FormValue;
  error?: string;
  disabled?: boolean;
  /**
   * `badInput`: a number field's text the browser could not read as a finite
   * number (`validity.badInput`, e.g. `1e999`); its `value` is then `''`.
   */
  onChange: (value: FormValue, badInput?: boolean) => void;
}): JSX.Element {
  const { param, value, error, disabled, onChange } = props;
  const { trans } = useTemplatesContext();
  const id = `jp-Templates-param-${param.name}`;
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const describedBy =
    [param.help ? helpId : '', error ? errorId : '']
      .filter(Boolean)
      .join(' ') || undefined;
  const common = {
    id,
    name: `param:${param.name}`,
    disabled,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy
  };

  let input: JSX.Element;
  switch (param.secret ? 'secret' : param.type) {
    case 'secret':
      input = (
        <input
          {...common}
          type="password"
          className="jp-mod-styled"
          autoComplete="new-password"
          value={String(value)}
          onChange={event => onChange(event.target.value)}
        />
      );
      break;
    case 'bool':
      input = (
        <input
          {...common}
          type="checkbox"
          checked={value === true}
          onChange={event => onChange(event.target.checked)}
        />
      );
      break;
    case 'int':
    case 'float':
      input = (
        <input
          {...common}
          type="number"
          className="jp-mod-styled"
          step={param.type === 'int' ? 1 : 'any'}
          value={String(value)}
          onChange={event =>
            onChange(event.target.value, event.target.validity.badInput)
          }
        />
      );
      break;
    case 'list':
    case 'dict':
    case 'any':
      input = (
        <textarea
          {...common}
          className="jp-mod-styled jp-Templates-json"
          rows={Math.min(8, Math.max(2, String(value).split('\n').length))}
          spellCheck={false}
          value={String(value)}
          onChange={event => onChange(event.target.value)}
        />
      );
      break;
    default:
      input = (
        <input
          {...common}
          type="text"
          className="jp-mod-styled"
          value={String(value)}
          onChange={event => onChange(event.target.value)}
        />
      );
  }

  const typeText = param.annotation || param.type;
  const label = (
    <label htmlFor={id} className="jp-Templates-label">
      <span className="jp-Templates-paramName">{param.name}</span>
      {param.secret ? null : (
        <span className="jp-Templates-paramType">{typeText}</span>
      )}
      {param.secret ? (
        <span
          className="jp-Templates-paramHint"
          title={trans.__(
            'Given to the run only: never written into the notebook or stored'
          )}
        >
          {trans.__('secret')}
        </span>
      ) : null}
      {param.type === 'list' ||
      param.type === 'dict' ||
      param.type === 'any' ? (
        <span className="jp-Templates-paramHint">{trans.__('JSON')}</span>
      ) : null}
    </label>
  );

  return (
    <div
      className={`jp-Templates-field jp-Templates-param${
        param.type === 'bool' ? ' jp-Templates-checkboxField' : ''
      }`}
      data-param={param.name}
      data-type={param.type}
    >
      {param.type === 'bool' ? (
        <div className="jp-Templates-checkboxRow">
          {input}
          {label}
        </div>
      ) : (
        <>
          {label}
          {input}
        </>
      )}
      {param.help && (
        <div id={helpId} className="jp-Templates-help">
          {param.help}
        </div>
      )}
      {error && <FieldError id={errorId} field={param.name} message={error} />}
    </div>
  );
}

/**
 * An error shown under a field.
 */
export function FieldError(props: {
  id?: string;
  field: string;
  message: string;
}): JSX.Element {
  return (
    <div
      id={props.id}
      className="jp-Templates-fieldError"
      data-field={props.field}
      role="alert"
    >
      {props.message}
    </div>
  );
}
