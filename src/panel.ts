import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { templatesIcon } from './icon';

/**
 * The id of the templates sidebar panel.
 */
export const PANEL_ID = 'jp-templates-panel';

/**
 * The left sidebar panel listing notebook templates.
 *
 * For now it only shows a heading and a placeholder text.
 */
export class TemplatesPanel extends Widget {
  constructor(options: TemplatesPanel.IOptions) {
    super();
    const { trans } = options;
    this.id = PANEL_ID;
    this.addClass('jp-TemplatesPanel');
    this.title.icon = templatesIcon;
    this.title.caption = trans.__('Templates');

    const header = document.createElement('h2');
    header.className = 'jp-TemplatesPanel-header';
    header.textContent = trans.__('Templates');

    const placeholder = document.createElement('p');
    placeholder.className = 'jp-TemplatesPanel-placeholder';
    placeholder.textContent = trans.__(
      'Notebook templates shared on this JupyterHub will be listed here.'
    );

    this.node.append(header, placeholder);
  }

  /**
   * The base URL of the templates service ('' when unknown).
   */
  serviceUrl = '';
}

/**
 * A namespace for TemplatesPanel statics.
 */
export namespace TemplatesPanel {
  /**
   * The options used to create a TemplatesPanel.
   */
  export interface IOptions {
    /**
     * The translation bundle for the panel's texts.
     */
    trans: TranslationBundle;
  }
}
