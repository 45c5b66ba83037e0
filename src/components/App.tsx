import * as React from 'react';

import type { Template } from '../api';
import { useTemplatesContext } from './context';
import { ExecutionsView } from './ExecutionsView';
import { Gallery } from './Gallery';
import { JobsView } from './JobsView';
import { Tabs, TabId } from './Tabs';
import { TemplateDetail } from './TemplateDetail';

/**
 * The whole panel: the tabs (templates, executions, jobs) and what they show.
 *
 * Only the active tab's content is in the DOM. The gallery's filters live
 * here so that they survive a trip to the detail view or the other tab.
 */
export function TemplatesApp(): JSX.Element {
  const { client, trans } = useTemplatesContext();
  const [tab, setTab] = React.useState<TabId>('templates');
  const [selected, setSelected] = React.useState<Template | null>(null);
  const [category, setCategory] = React.useState('');
  const [query, setQuery] = React.useState('');
  const [isAdmin, setIsAdmin] = React.useState(false);
  // The execution to bring into view in the Executions tab (from a job's history).
  const [focusExecution, setFocusExecution] = React.useState<number | null>(
    null
  );
  // Bumped to ask again who the user is once the service answers again.
  const [whoamiAttempt, setWhoamiAttempt] = React.useState(0);
  const whoamiFailed = React.useRef(false);

  React.useEffect(() => {
    if (!client) {
      setIsAdmin(false);
      return;
    }
    let current = true;
    client
      .whoami()
      .then(me => {
        if (current) {
          whoamiFailed.current = false;
          setIsAdmin(me.templates_admin === true);
        }
      })
      .catch(() => {
        // The gallery shows why the service cannot be reached.
        if (current) {
          whoamiFailed.current = true;
          setIsAdmin(false);
        }
      });
    return () => {
      current = false;
    };
  }, [client, whoamiAttempt]);

  const onServiceAnswered = React.useCallback(() => {
    if (whoamiFailed.current) {
      whoamiFailed.current = false;
      setWhoamiAttempt(n => n + 1);
    }
  }, []);

  const selectTab = (id: TabId): void => {
    setTab(id);
    if (id !== 'executions') {
      setFocusExecution(null);
    }
  };

  return (
    <div className="jp-Templates-app">
      <Tabs
        active={tab}
        onSelect={selectTab}
        labels={{
          templates: trans.__('Templates'),
          executions: trans.__('Executions'),
          jobs: trans.__('Jobs')
        }}
      />
      <div
        className="jp-Templates-tabPanel"
        role="tabpanel"
        id={`jp-Templates-tabPanel-${tab}`}
        aria-labelledby={`jp-Templates-tab-${tab}`}
      >
        {tab === 'executions' ? (
          <ExecutionsView focusId={focusExecution} />
        ) : tab === 'jobs' ? (
          <JobsView
            onShowExecution={id => {
              setTab('executions');
              setFocusExecution(id);
            }}
          />
        ) : selected ? (
          <TemplateDetail
            key={selected.name}
            template={selected}
            onBack={() => setSelected(null)}
            onRunStarted={() => selectTab('executions')}
            onJobCreated={() => selectTab('jobs')}
          />
        ) : (
          <Gallery
            isAdmin={isAdmin}
            category={category}
            onCategory={setCategory}
            query={query}
            onQuery={setQuery}
            onOpen={setSelected}
            onLoaded={onServiceAnswered}
          />
        )}
      </div>
    </div>
  );
}
