"""Executions of notebooks in users' servers, as the Hub service sees them.

Among the modules: ``mlflow_runs`` looks up the MLflow runs an execution logged, through
MLflow's REST API and without importing mlflow (the service's environment does not have it).
"""
