"""One module per `motion-mamba` command. Each defines HELP, add_arguments(parser) and run(args) -> int."""
