"""The one compiled piece: the media engine's RTP relay (appliance/media/_rtp_relay.c, loaded with ctypes).
Everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("appliance.media._rtp_relay", sources=["appliance/media/_rtp_relay.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra"])])
