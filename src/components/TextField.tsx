import * as React from 'react';

import { FieldError } from './ParameterField';

/**
 * A labelled text input with optional help and error.
 */
export function TextField(props: {
  name: string;
  label: string;
  value: string;
  help?: string;
  error?: string;
  disabled?: boolean;
  /** The id of a `<datalist>` of suggestions. */
  list?: string;
  placeholder?: string;
  inputRef?: React.Ref<HTMLInputElement>;
  onChange: (value: string) => void;
  /** Shown between the help and the error, e.g. examples to pick. */
  children?: React.ReactNode;
}): JSX.Element {
  const { name, label, value, help, error, disabled, onChange } = props;
  const id = `jp-Templates-field-${name}`;
  const describedBy =
    [help ? `${id}-help` : '', error ? `${id}-error` : '']
      .filter(Boolean)
      .join(' ') || undefined;
  return (
    <div className="jp-Templates-field">
      <label htmlFor={id} className="jp-Templates-label">
        {label}
      </label>
      <input
        id={id}
        type="text"
        name={name}
        className="jp-mod-styled"
        value={value}
        list={props.list}
        placeholder={props.placeholder}
        ref={props.inputRef}
        spellCheck={false}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        onChange={event => onChange(event.target.value)}
      />
      {help && (
        <div id={`${id}-help`} className="jp-Templates-help">
          {help}
        </div>
      )}
      {props.children}
      {error && <FieldError id={`${id}-error`} field={name} message={error} />}
    </div>
  );
}
