"""The CLI's sub-commands, one module each."""
