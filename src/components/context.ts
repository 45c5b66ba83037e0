import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { TemplatesClient } from '../api';
import { ExecutionsModel } from './executionsModel';

/**
 * What the panel's components need from JupyterLab and the service.
 */
export interface ITemplatesContext {
  /**
   * The service client; null when the service URL is unknown (Lab does not
   * run under JupyterHub and no `serviceUrl` setting is set).
   */
  client: TemplatesClient | null;
  /**
   * The service's base URL ('' when unknown), for messages.
   */
  serviceUrl: string;
  trans: TranslationBundle;
  /**
   * Open a file of the user's server in Lab.
   */
  openPath: (path: string) => void;
  /**
   * The file browser's current folder ('' for the root).
   */
  currentFolder: () => string;
  executions: ExecutionsModel;
  /**
   * Open a notebook the service has just created (default: `openPath`):
   * without unsaved changes although Lab sets the kernel's metadata.
   */
  openCreated?: (path: string) => void;
  /**
   * The user's files, as Lab's contents manager sees them (to propose a free
   * name); absent: no proposal.
   */
  contents?: IFileExists | null;
}

/**
 * What the panel needs of Lab's contents manager (`app.serviceManager.contents`):
 * `get` rejects (with a `response.status` of 404) for a missing path.
 */
export interface IFileExists {
  get(path: string, options?: { content?: boolean }): Promise<unknown>;
}

export const TemplatesContext = React.createContext<ITemplatesContext | null>(
  null
);

/**
 * The panel's context (throws outside of the panel).
 */
export function useTemplatesContext(): ITemplatesContext {
  const context = React.useContext(TemplatesContext);
  if (!context) {
    throw new Error('TemplatesContext is missing');
  }
  return context;
}
