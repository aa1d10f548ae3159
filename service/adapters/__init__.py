"""Adapters: the only modules that touch another library's private names.

Each module here wraps one library's internals behind a small public function
of ours, and has a test in ``tests/adapters/`` that fails loudly when the
library changes underneath it. Nothing outside this package reaches into a
private name of aiohttp, aiohttp-apispec, redis-py, prometheus-client or the
standard library.
"""
