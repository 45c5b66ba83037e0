import { LabIcon } from '@jupyterlab/ui-components';

/**
 * A stack of notebook pages, used for the templates sidebar tab.
 */
const templatesSvgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 6H2v14a2 2 0 0 0 2 2h14v-2H4V6z"/>
    <path d="M20 2H8a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zm0 14H8V4h12v12zM10 6h8v2h-8V6zm0 3h8v2h-8V9zm0 3h5v2h-5v-2z"/>
  </g>
</svg>`;

export const templatesIcon = new LabIcon({
  name: 'jupyterhub-templates:templates',
  svgstr: templatesSvgstr
});
