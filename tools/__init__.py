"""Developer tools (not installed with fastgru). A package so that `python -m tools.bench` finds
this folder first, before any installed module that happens to be called `tools`."""
