import { Notification } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Category, Template } from '../api';
import { confirmDeleteTemplate } from './confirm';
import { useTemplatesContext } from './context';
import { errorMessage } from './executionsModel';
import { StateMessage } from './StateMessage';
import { TemplateCard } from './TemplateCard';
import { UploadForm } from './UploadForm';
import { useDebounced } from './useDebounced';

/**
 * How long the search box waits for more typing (ms).
 */
const SEARCH_DELAY = 250;

/**
 * The gallery: category and search filters, the cards, and for admins the
 * upload form.
 */
export function Gallery(props: {
  isAdmin: boolean;
  category: string;
  onCategory: (category: string) => void;
  query: string;
  onQuery: (query: string) => void;
  onOpen: (template: Template) => void;
  /**
   * Called when the service has answered the list.
   */
  onLoaded?: () => void;
}): JSX.Element {
  const { isAdmin, category, onCategory, query, onQuery, onOpen, onLoaded } =
    props;
  const { client, serviceUrl, trans } = useTemplatesContext();
  const [search, setSearch] = React.useState(query);
  const debouncedSearch = useDebounced(search, SEARCH_DELAY);
  const [templates, setTemplates] = React.useState<Template[] | null>(null);
  const [categories, setCategories] = React.useState<Category[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(true);
  const [reloads, setReloads] = React.useState(0);
  const reload = React.useCallback(() => setReloads(n => n + 1), []);

  React.useEffect(() => {
    onQuery(debouncedSearch.trim());
  }, [debouncedSearch]);

  // The templates matching the filters; stale answers are dropped.
  React.useEffect(() => {
    if (!client) {
      return;
    }
    let current = true;
    setLoading(true);
    client
      .listTemplates({
        category: category || undefined,
        q: query || undefined,
        limit: 1000
      })
      .then(page => {
        if (current) {
          setTemplates(page.templates);
          setError(null);
          setLoading(false);
          onLoaded?.();
        }
      })
      .catch(reason => {
        if (current) {
          setTemplates(null);
          setError(errorMessage(reason));
          setLoading(false);
        }
      });
    return () => {
      current = false;
    };
  }, [client, category, query, reloads]);

  React.useEffect(() => {
    if (!client) {
      return;
    }
    let current = true;
    client
      .listCategories()
      .then(list => {
        if (current) {
          setCategories(list);
        }
      })
      .catch(() => {
        // The list's own request reports the error.
      });
    return () => {
      current = false;
    };
  }, [client, reloads]);

  const confirmDelete = async (template: Template): Promise<void> => {
    if (!client) {
      return;
    }
    // the dialog focuses Cancel: Enter or a reflex click deletes nothing
    if (!(await confirmDeleteTemplate(trans, template.name))) {
      return;
    }
    try {
      await client.deleteTemplate(template.name);
      Notification.success(trans.__('Deleted %1', template.name), {
        autoClose: 5000
      });
    } catch (reason) {
      Notification.error(
        trans.__('Could not delete %1: %2', template.name, errorMessage(reason))
      );
    }
    reload();
  };

  const total = categories.reduce((sum, item) => sum + item.count, 0);
  const filtered = category !== '' || query !== '';

  let state: JSX.Element | null = null;
  if (!client) {
    state = (
      <StateMessage state="error">
        {trans.__(
          'The templates service is unknown: JupyterLab does not seem to run under JupyterHub. Set its URL in Settings → Notebook Templates.'
        )}
      </StateMessage>
    );
  } else if (error !== null) {
    state = (
      <StateMessage state="error">
        <p className="jp-Templates-stateTitle">
          {trans.__('The templates service cannot be used.')}
        </p>
        <p className="jp-Templates-stateDetail">{error}</p>
        <p className="jp-Templates-stateDetail">
          {trans.__('Service URL: %1', serviceUrl)}
        </p>
        <button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          onClick={reload}
        >
          {trans.__('Retry')}
        </button>
      </StateMessage>
    );
  } else if (templates === null && loading) {
    state = (
      <StateMessage state="loading">
        {trans.__('Loading templates…')}
      </StateMessage>
    );
  } else if (templates !== null && templates.length === 0 && !loading) {
    state = (
      <StateMessage state="empty">
        {filtered
          ? trans.__('No template matches these filters.')
          : isAdmin
            ? trans.__('No templates yet. Upload one below.')
            : trans.__('No templates yet. Ask an administrator to add some.')}
      </StateMessage>
    );
  }

  return (
    <div className="jp-Templates-gallery">
      <div className="jp-Templates-filters">
        <select
          className="jp-Templates-category jp-mod-styled"
          aria-label={trans.__('Category')}
          value={category}
          onChange={event => onCategory(event.target.value)}
        >
          <option value="">
            {categories.length > 0
              ? trans.__('All (%1)', total)
              : trans.__('All')}
          </option>
          {categories.map(item => (
            <option key={item.name} value={item.name}>
              {trans.__('%1 (%2)', item.name, item.count)}
            </option>
          ))}
          {category !== '' &&
            !categories.some(item => item.name === category) && (
              <option value={category}>{category}</option>
            )}
        </select>
        <button
          type="button"
          className="jp-Templates-refresh jp-Button jp-mod-minimal"
          aria-label={trans.__('Refresh templates')}
          title={trans.__('Refresh templates')}
          onClick={reload}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
        <input
          type="search"
          className="jp-Templates-search jp-mod-styled"
          aria-label={trans.__('Search templates')}
          placeholder={trans.__('Search templates')}
          value={search}
          onChange={event => setSearch(event.target.value)}
        />
      </div>
      {state}
      {templates !== null && templates.length > 0 && (
        <ul
          className="jp-Templates-cards"
          aria-label={trans.__('Templates')}
          aria-busy={loading}
        >
          {templates.map(template => (
            <TemplateCard
              key={template.name}
              template={template}
              isAdmin={isAdmin}
              onOpen={onOpen}
              onDelete={item => void confirmDelete(item)}
            />
          ))}
        </ul>
      )}
      {isAdmin && client && (
        <UploadForm categories={categories} onUploaded={reload} />
      )}
    </div>
  );
}
