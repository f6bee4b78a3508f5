"""One module per `charloom` subcommand, each with ``register(subparsers)``; charloom/cli.py lists them."""
