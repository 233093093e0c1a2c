"""The `bucketscore` command: `main` (the parser, secrets kept out of every line, exit
status) and `commands/` (one module per subcommand); `run_log` sends Beam's messages to a
run's log file. Scoring itself is bucketscore.pipelines."""
