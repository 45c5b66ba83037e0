"""Tornado handlers, one module per resource. Thin: parse, authorize, call, answer."""
