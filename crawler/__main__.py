"""`python -m crawler` is the `fundcrawl` command."""

from crawler.cli import main

main(prog_name="fundcrawl")
