"""`python -m zhisuan` is the `zhisuan` command."""

from zhisuan.cli import main

main()
