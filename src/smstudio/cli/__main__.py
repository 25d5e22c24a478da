"""`python -m smstudio.cli`: the same as the `smstudio` command."""

from smstudio.cli import main

main()
