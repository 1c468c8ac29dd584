"""run_cmd: start programs without a shell, with per-program rules and a clean environment."""
