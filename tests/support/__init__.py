"""Helpers the tests and the benchmarks share, kept out of the installed package.

``containers``: real Podman containers through gitkube's runtime (the example image, sweeps);
``etcdserver``: a throw-away etcd on loopback. Tests import them as ``tests.support.NAME``
(pytest puts the repository root on ``sys.path``, see pyproject.toml); benchmarks put the
root there themselves.
"""
