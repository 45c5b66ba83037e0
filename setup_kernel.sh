#!/usr/bin/env bash
# Create the virtualenv of the notebook kernel and register it as the kernelspec
# "mlflow_kernel" where users' servers find it. Idempotent: run it again to update.
#
#   ./setup_kernel.sh [KERNEL_ENV_PATH] [KERNELSPEC_PREFIX]
#
# KERNEL_ENV_PATH     where the kernel's virtualenv goes (default: ./.venv-kernel)
# KERNELSPEC_PREFIX   the Jupyter prefix users' servers read kernelspecs from
#                     (default: the prefix of the python3 on PATH, i.e. the Hub's env)
#
# The kernel's packages come from kernel_requirements.txt beside this script when it
# exists (the execution issue adds MLflow and the data science stack); otherwise only
# ipykernel is installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
env_path=$(realpath -m "${1:-$here/.venv-kernel}")
prefix=${2:-$(python3 -c 'import sys; print(sys.prefix)')}
name=${KERNEL_NAME:-mlflow_kernel}
display=${KERNEL_DISPLAY_NAME:-"Python (MLflow)"}

if [ ! -x "$env_path/bin/python" ]; then
  python3 -m venv "$env_path"
fi
"$env_path/bin/python" -m pip install --quiet --upgrade pip
if [ -f "$here/kernel_requirements.txt" ]; then
  "$env_path/bin/python" -m pip install --quiet -r "$here/kernel_requirements.txt"
else
  "$env_path/bin/python" -m pip install --quiet ipykernel
fi
"$env_path/bin/python" -m ipykernel install --prefix "$prefix" --name "$name" \
  --display-name "$display" >/dev/null
echo "kernel '$name' ($env_path) registered in $prefix/share/jupyter/kernels/$name"
