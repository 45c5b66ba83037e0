import * as React from 'react';

export type TabId = 'templates' | 'executions' | 'jobs';

const TAB_IDS: TabId[] = ['templates', 'executions', 'jobs'];

/**
 * The tab bar at the top of the panel (WAI-ARIA tabs: arrows, Home, End).
 */
export function Tabs(props: {
  active: TabId;
  onSelect: (id: TabId) => void;
  labels: Record<TabId, string>;
}): JSX.Element {
  const { active, onSelect, labels } = props;
  const refs = React.useRef<Partial<Record<TabId, HTMLButtonElement | null>>>(
    {}
  );

  const onKeyDown = (event: React.KeyboardEvent): void => {
    const index = TAB_IDS.indexOf(active);
    let next: number;
    switch (event.key) {
      case 'ArrowRight':
        next = (index + 1) % TAB_IDS.length;
        break;
      case 'ArrowLeft':
        next = (index - 1 + TAB_IDS.length) % TAB_IDS.length;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = TAB_IDS.length - 1;
        break;
      default:
        return;
    }
    event.preventDefault();
    const id = TAB_IDS[next];
    onSelect(id);
    refs.current[id]?.focus();
  };

  return (
    <div
      className="jp-Templates-tabs"
      role="tablist"
      aria-label={labels.templates}
      onKeyDown={onKeyDown}
    >
      {TAB_IDS.map(id => (
        <button
          key={id}
          ref={node => {
            refs.current[id] = node;
          }}
          type="button"
          role="tab"
          id={`jp-Templates-tab-${id}`}
          className={`jp-Templates-tab${id === active ? ' jp-mod-active' : ''}`}
          aria-selected={id === active}
          aria-controls={
            id === active ? `jp-Templates-tabPanel-${id}` : undefined
          }
          tabIndex={id === active ? 0 : -1}
          onClick={() => onSelect(id)}
        >
          {labels[id]}
        </button>
      ))}
    </div>
  );
}
