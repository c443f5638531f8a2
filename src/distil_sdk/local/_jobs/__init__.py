"""The local platform's jobs: the worker that runs them in subprocesses, and what a job runs."""
