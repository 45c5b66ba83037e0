import { fileUploadIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Category } from '../api';
import { useTemplatesContext } from './context';
import { errorMessage } from './executionsModel';

/**
 * What a category name may be (the service's pattern).
 */
const CATEGORY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The admins' upload form: file picker or drop zone, category, description,
 * overwrite.
 */
export function UploadForm(props: {
  categories: Category[];
  onUploaded: () => void;
}): JSX.Element {
  const { categories, onUploaded } = props;
  const { client, trans } = useTemplatesContext();
  const [file, setFile] = React.useState<File | null>(null);
  const [category, setCategory] = React.useState('');
  const [description, setDescription] = React.useState('');
  const [overwrite, setOverwrite] = React.useState(false);
  const [dragging, setDragging] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [result, setResult] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const fileInput = React.useRef<HTMLInputElement>(null);

  const pick = (picked: File | null | undefined): void => {
    setResult(null);
    if (!picked) {
      setFile(null);
      return;
    }
    if (!picked.name.toLowerCase().endsWith('.ipynb')) {
      setError(trans.__('%1 is not a notebook (.ipynb).', picked.name));
      setFile(null);
      return;
    }
    setError(null);
    setFile(picked);
  };

  const onDrop = (event: React.DragEvent): void => {
    event.preventDefault();
    setDragging(false);
    pick(event.dataTransfer.files[0]);
  };

  const onDragOver = (event: React.DragEvent): void => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  };

  const onSubmit = async (event: React.FormEvent): Promise<void> => {
    event.preventDefault();
    setResult(null);
    if (!client) {
      return;
    }
    if (!file) {
      setError(trans.__('Choose a notebook (.ipynb) to upload.'));
      return;
    }
    if (!CATEGORY_PATTERN.test(category)) {
      setError(
        trans.__(
          'The category must be 1 to 64 letters, digits, "-" or "_" (no spaces).'
        )
      );
      return;
    }
    setError(null);
    setBusy(true);
    try {
      const answer = await client.uploadTemplate(file, file.name, {
        category,
        description: description || undefined,
        overwrite
      });
      setResult(
        answer.version > 1
          ? trans.__(
              'Uploaded %1 (version %2).',
              answer.template_name,
              answer.version
            )
          : trans.__('Uploaded %1.', answer.template_name)
      );
      setFile(null);
      setDescription('');
      setOverwrite(false);
      if (fileInput.current) {
        fileInput.current.value = '';
      }
      onUploaded();
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="jp-Templates-upload"
      noValidate
      aria-labelledby="jp-Templates-uploadTitle"
      onSubmit={event => void onSubmit(event)}
    >
      <h3 id="jp-Templates-uploadTitle" className="jp-Templates-sectionTitle">
        {trans.__('Upload a template')}
      </h3>
      <div
        className={`jp-Templates-dropZone${dragging ? ' jp-mod-dragging' : ''}`}
        role="button"
        tabIndex={0}
        aria-label={trans.__('Drop a notebook here')}
        aria-describedby="jp-Templates-dropZoneText"
        onClick={() => fileInput.current?.click()}
        onKeyDown={event => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            fileInput.current?.click();
          }
        }}
        onDragEnter={onDragOver}
        onDragOver={onDragOver}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <fileUploadIcon.react tag="span" elementSize="large" />
        <span id="jp-Templates-dropZoneText">
          {file
            ? trans.__('Selected: %1', file.name)
            : trans.__('Drop a notebook here, or click to choose one')}
        </span>
      </div>
      <label className="jp-Templates-field">
        <span className="jp-Templates-label">{trans.__('Notebook file')}</span>
        <input
          ref={fileInput}
          type="file"
          name="file"
          accept=".ipynb"
          className="jp-Templates-fileInput"
          onChange={event => pick(event.target.files?.[0])}
        />
      </label>
      <label className="jp-Templates-field">
        <span className="jp-Templates-label">{trans.__('Category')}</span>
        <input
          type="text"
          name="category"
          className="jp-mod-styled"
          list="jp-Templates-categoryList"
          required
          pattern="[A-Za-z0-9_\-]{1,64}"
          value={category}
          onChange={event => setCategory(event.target.value)}
        />
        <datalist id="jp-Templates-categoryList">
          {categories.map(item => (
            <option key={item.name} value={item.name} />
          ))}
        </datalist>
      </label>
      <label className="jp-Templates-field">
        <span className="jp-Templates-label">{trans.__('Description')}</span>
        <input
          type="text"
          name="description"
          className="jp-mod-styled"
          value={description}
          onChange={event => setDescription(event.target.value)}
        />
      </label>
      <label className="jp-Templates-checkbox">
        <input
          type="checkbox"
          name="overwrite"
          checked={overwrite}
          onChange={event => setOverwrite(event.target.checked)}
        />
        <span>{trans.__('Replace an existing template (new version)')}</span>
      </label>
      {error !== null && (
        <div className="jp-Templates-uploadError" role="alert">
          {error}
        </div>
      )}
      {result !== null && (
        <div className="jp-Templates-uploadResult" role="status">
          {result}
        </div>
      )}
      <div className="jp-Templates-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
        >
          {trans.__('Upload')}
        </button>
      </div>
    </form>
  );
}
