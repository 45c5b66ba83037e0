import { PageConfig } from '@jupyterlab/coreutils';

/**
 * The path of the templates service relative to the JupyterHub base URL.
 */
const SERVICE_PATH = 'services/templates/';

/**
 * Return the base URL of the templates service, ending with a slash.
 *
 * A non-empty `settingsOverride` (the `serviceUrl` setting) wins. Otherwise the
 * URL is derived from the `hubPrefix` page config option: JupyterHub sets it to
 * `<base_url>hub/` (e.g. `/hub/`), and the service lives next to it at
 * `<base_url>services/templates/`. Returns `''` when there is no `hubPrefix`,
 * i.e. when JupyterLab does not run under JupyterHub.
 */
export function serviceBaseUrl(settingsOverride: string): string {
  const override = settingsOverride.trim();
  if (override) {
    return override.endsWith('/') ? override : `${override}/`;
  }
  const hubPrefix = PageConfig.getOption('hubPrefix');
  if (!hubPrefix) {
    return '';
  }
  const prefix = hubPrefix.endsWith('/') ? hubPrefix : `${hubPrefix}/`;
  if (prefix.endsWith('/hub/')) {
    return prefix.slice(0, -'hub/'.length) + SERVICE_PATH;
  }
  return `${prefix}../${SERVICE_PATH}`;
}
