"""Deployment: the C export of an integer model (:mod:`jaxgru.deploy.c_source`), its weight
storage (:mod:`jaxgru.deploy.packing`) and the toolchains that build and run it
(:mod:`jaxgru.deploy.toolchain`)."""

from jaxgru.deploy.c_source import c_sources
from jaxgru.deploy.packing import pack_codes, storage, stored_bytes, unpack_codes

__all__ = ["c_sources", "pack_codes", "storage", "stored_bytes", "unpack_codes"]
