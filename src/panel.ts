import { PageConfig } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { TemplatesClient } from './api';
import { TemplatesApp } from './components/App';
import {
  IFileExists,
  ITemplatesContext,
  TemplatesContext
} from './components/context';
import { ExecutionsModel } from './components/executionsModel';
import { templatesIcon } from './icon';

/**
 * The id of the templates sidebar panel.
 */
export const PANEL_ID = 'jp-templates-panel';

/**
 * The left sidebar panel: the template gallery, the parameter form and the
 * user's executions (React components under `components/`).
 */
export class TemplatesPanel extends ReactWidget {
  constructor(options: TemplatesPanel.IOptions) {
    super();
    const { trans } = options;
    this.id = PANEL_ID;
    this.addClass('jp-TemplatesPanel');
    this.title.icon = templatesIcon;
    this.title.caption = trans.__('Templates');
    this._token = options.token ?? PageConfig.getToken();
    this._executions = new ExecutionsModel({
      trans,
      openPath: options.openPath,
      pollInterval: options.pollInterval
    });
    this._context = {
      client: null,
      serviceUrl: '',
      trans,
      openPath: options.openPath,
      currentFolder: options.currentFolder,
      executions: this._executions,
      openCreated: options.openCreated,
      contents: options.contents ?? null
    };
  }

  /**
   * The base URL of the templates service ('' when unknown).
   *
   * Setting it makes a new client and reloads what the panel shows.
   */
  get serviceUrl(): string {
    return this._context.serviceUrl;
  }
  set serviceUrl(url: string) {
    if (url === this._context.serviceUrl && this._context.client) {
      return;
    }
    const client = url
      ? new TemplatesClient({ baseUrl: url, token: this._token })
      : null;
    this._context = { ...this._context, serviceUrl: url, client };
    this._executions.client = client;
    this.update();
  }

  /**
   * Milliseconds between two polls of the executions while runs are active.
   */
  get pollInterval(): number {
    return this._executions.pollInterval;
  }
  set pollInterval(value: number) {
    this._executions.pollInterval = value;
  }

  /**
   * The model of the user's executions (polling and notifications).
   */
  get executions(): ExecutionsModel {
    return this._executions;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._executions.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return React.createElement(
      TemplatesContext.Provider,
      { value: this._context },
      React.createElement(TemplatesApp)
    );
  }

  private _token: string;
  private _executions: ExecutionsModel;
  private _context: ITemplatesContext;
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
    /**
     * Open a file of the user's server in Lab.
     */
    openPath: (path: string) => void;
    /**
     * The file browser's current folder ('' for the root).
     */
    currentFolder: () => string;
    /**
     * Open a notebook just created from a template (default: `openPath`).
     */
    openCreated?: (path: string) => void;
    /**
     * Lab's contents manager, to propose a free name for a new notebook.
     */
    contents?: IFileExists | null;
    /**
     * The Hub token for the service (default: the page's token).
     */
    token?: string;
    /**
     * Milliseconds between two polls while runs are active (default 2000).
     */
    pollInterval?: number;
  }
}
