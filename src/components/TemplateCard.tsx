import { deleteIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Template } from '../api';
import { useTemplatesContext } from './context';
import { absoluteTime, relativeTime } from './format';

/**
 * One template in the gallery: a button that opens its detail view, and for
 * admins a delete button.
 */
export function TemplateCard(props: {
  template: Template;
  isAdmin: boolean;
  onOpen: (template: Template) => void;
  onDelete: (template: Template) => void;
}): JSX.Element {
  const { template, isAdmin, onOpen, onDelete } = props;
  const { trans } = useTemplatesContext();
  const count = template.parameters.length;
  return (
    <li className="jp-Templates-card" data-template-name={template.name}>
      <button
        type="button"
        className="jp-Templates-cardOpen"
        title={trans.__('Open %1', template.name)}
        onClick={() => onOpen(template)}
      >
        <span className="jp-Templates-cardTitle">{template.filename}</span>
        <span className="jp-Templates-cardDescription">
          {template.description || trans.__('No description')}
        </span>
        <span className="jp-Templates-cardMeta">
          <span className="jp-Templates-cardCategory">{template.category}</span>
          <span className="jp-Templates-cardParameters">
            {trans._n('%1 parameter', '%1 parameters', count)}
          </span>
          <span className="jp-Templates-cardKernel">
            {template.kernel_name}
          </span>
          <time
            className="jp-Templates-cardModified"
            dateTime={template.last_modified}
            title={absoluteTime(template.last_modified)}
          >
            {relativeTime(template.last_modified)}
          </time>
        </span>
      </button>
      {isAdmin && (
        <button
          type="button"
          className="jp-Templates-cardDelete jp-Button jp-mod-minimal"
          aria-label={trans.__('Delete %1', template.name)}
          title={trans.__('Delete %1', template.name)}
          onClick={() => onDelete(template)}
        >
          <deleteIcon.react tag="span" elementSize="normal" />
        </button>
      )}
    </li>
  );
}
