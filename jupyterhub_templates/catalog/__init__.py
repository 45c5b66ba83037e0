"""Template logic independent of HTTP: names, notebook parsing, parameters, the catalog.

Importing the package imports nothing else: the server extension in users' servers uses
``parameters`` (the same checks as the service's) without the catalog's database code.
"""
