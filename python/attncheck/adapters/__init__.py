"""Adapters: real attention libraries behind the attncheck contract.

Each module is a thin use of one library the way its documentation and its
callers use it, with the capabilities it has declared next to it. They need
the libraries of ci/libs.sh (torch, jax); README "Real libraries" gives the
commands and the findings.
"""
