"""Rahat's benchmarks (``rahat bench ...``): each times a whole path against a reference.

Installed as ``rahat.benchmarks``; never imported by the library itself, only by the
``rahat bench`` commands, and never run by the tests.
"""
