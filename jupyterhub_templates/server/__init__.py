"""The server extension inside users' single-user servers: app, handlers, executor, runner."""
