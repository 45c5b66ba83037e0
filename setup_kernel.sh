#!/usr/bin/env bash
# Create the virtualenv of the notebook kernel and register it as the kernelspec
# "mlflow_kernel" where users' servers find it. Idempotent: run it again to update.
#
#   ./setup_kernel.sh [KERNEL_ENV_PATH] [KERNELSPEC_PREFIX]
#
# KERNEL_ENV_PATH     where the kernel's virtualenv goes (default: ./.venv-kernel)
# KERNELSPEC_PREFIX   the Jupyter prefix users' servers read kernelspecs from
#                     (default: the prefix of the python3 on PATH, i.e. the Hub's env);
#                     the kernelspec lands in PREFIX/share/jupyter/kernels/NAME
#
# Environment: KERNEL_NAME (default mlflow_kernel), KERNEL_DISPLAY_NAME, PYTHON (the
# interpreter that creates the virtualenv; default python3), FORCE=1 (reinstall packages).
#
# The kernel's packages come from kernel_requirements.txt beside this script when it
# exists (MLflow 3 and the data science stack); otherwise only ipykernel is installed.
# A second run is fast: pip runs only when the requirements (or the env's Python) changed
# since the last successful install, recorded in KERNEL_ENV_PATH/.requirements.sha256.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
env_path=$(realpath -m "${1:-$here/.venv-kernel}")
prefix=${2:-$(python3 -c 'import sys; print(sys.prefix)')}
prefix=$(realpath -m "$prefix")
name=${KERNEL_NAME:-mlflow_kernel}
display=${KERNEL_DISPLAY_NAME:-"Python (MLflow)"}
python=${PYTHON:-python3}
requirements="$here/kernel_requirements.txt"
stamp="$env_path/.requirements.sha256"

if [ ! -x "$env_path/bin/python" ]; then
  "$python" -m venv "$env_path"
fi

# What the installed packages depend on: the requirements file and the env's Python.
want=$(
  {
    "$env_path/bin/python" -c 'import sys; print(sys.version)'
    if [ -f "$requirements" ]; then cat "$requirements"; else echo ipykernel; fi
  } | sha256sum | cut -d' ' -f1
)
have=$(cat "$stamp" 2>/dev/null || true)

if [ "${FORCE:-0}" = 1 ] || [ "$want" != "$have" ]; then
  rm -f "$stamp" # an interrupted install must not look complete
  "$env_path/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  if [ -f "$requirements" ]; then
    "$env_path/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  else
    "$env_path/bin/python" -m pip install --quiet --disable-pip-version-check ipykernel
  fi
  echo "$want" >"$stamp"
else
  echo "kernel env $env_path is up to date with $(basename "$requirements")"
fi

"$env_path/bin/python" -m ipykernel install --prefix "$prefix" --name "$name" \
  --display-name "$display" >/dev/null
echo "kernel '$name' ($env_path) registered in $prefix/share/jupyter/kernels/$name"
