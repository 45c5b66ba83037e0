import * as React from 'react';

/**
 * The explicit states of a list.
 */
export type ListState = 'loading' | 'empty' | 'error';

/**
 * A loading, empty or error message, as `.jp-Templates-state[data-state]`.
 */
export function StateMessage(props: {
  state: ListState;
  children: React.ReactNode;
}): JSX.Element {
  const { state, children } = props;
  return (
    <div
      className={`jp-Templates-state jp-Templates-state-${state}`}
      data-state={state}
      role={state === 'error' ? 'alert' : 'status'}
      aria-live="polite"
    >
      {children}
    </div>
  );
}
