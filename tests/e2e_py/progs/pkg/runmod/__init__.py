"""A package for `peaktrace run -- PY -m runmod.job` (PYTHONPATH=progs/pkg)."""
