"""Adapters: the ports of :mod:`lookalike.service.ports` on one machine (files, SQLite, loopback HTTP) and on AWS."""
