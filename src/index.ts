import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import {
  keepCleanOnKernelMetadata,
  type IOpenedNotebook
} from './components/cleanOpen';
import { TemplatesPanel } from './panel';
import { serviceBaseUrl } from './service';

export { templatesIcon } from './icon';
export { PANEL_ID, TemplatesPanel } from './panel';
export { serviceBaseUrl } from './service';

/**
 * The command IDs used by the extension.
 */
export namespace CommandIDs {
  export const open = 'templates:open';
}

/**
 * The plugin ID, also the ID of its settings.
 */
const PLUGIN_ID = 'jupyterhub-templates:plugin';

/**
 * The default of the `pollInterval` setting (ms).
 */
const DEFAULT_POLL_INTERVAL = 2000;

/**
 * Adds the notebook templates panel to the left sidebar.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A left sidebar panel with the notebook templates of JupyterHub: gallery, parameter form and executions.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    ITranslator,
    ISettingRegistry,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    fileBrowser: IDefaultFileBrowser | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterhub_templates');

    const panel = new TemplatesPanel({
      trans,
      openPath: (path: string) => {
        app.commands.execute('docmanager:open', { path }).catch(reason => {
          console.error(`Failed to open ${path}.`, reason);
        });
      },
      openCreated: (path: string) => {
        app.commands
          .execute('docmanager:open', { path })
          .then(widget => {
            if (widget && typeof widget === 'object' && 'context' in widget) {
              return keepCleanOnKernelMetadata(widget as IOpenedNotebook);
            }
          })
          .catch(reason => {
            console.error(`Failed to open ${path}.`, reason);
          });
      },
      contents: app.serviceManager.contents,
      currentFolder: () => fileBrowser?.model.path ?? '',
      pollInterval: DEFAULT_POLL_INTERVAL
    });
    panel.serviceUrl = serviceBaseUrl('');
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, PLUGIN_ID);
    }

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Open Templates'),
      caption: trans.__('Open the notebook templates panel'),
      describedBy: {
        args: { type: 'object', properties: {} }
      },
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    if (palette) {
      palette.addItem({
        command: CommandIDs.open,
        category: trans.__('Templates')
      });
    }

    if (settingRegistry) {
      const updateSettings = (settings: ISettingRegistry.ISettings): void => {
        const override = settings.get('serviceUrl').composite;
        panel.serviceUrl = serviceBaseUrl(
          typeof override === 'string' ? override : ''
        );
        const interval = settings.get('pollInterval').composite;
        panel.pollInterval =
          typeof interval === 'number' && interval >= 500
            ? interval
            : DEFAULT_POLL_INTERVAL;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          updateSettings(settings);
          settings.changed.connect(updateSettings);
        })
        .catch(reason => {
          console.error(`Failed to load settings for ${PLUGIN_ID}.`, reason);
        });
    }
  }
};

export default plugin;
