"""The `charloom` console command: one entry point composing the packages' subcommands."""
