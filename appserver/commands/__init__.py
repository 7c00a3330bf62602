"""One module per ``appserver`` subcommand."""
