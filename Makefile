# The two commands a new developer needs: `make run` and `make test`.
# Both set up what is missing (Debian packages, a .venv, the package) and are fast when nothing changed.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
WEB_ASSETS := web_ui/static_build/manifest.json
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# System packages: reference peers and tools the tests and the appliance use.
APT_PACKAGES := python3 python3-venv python3-dev gcc make \
	sip-tester baresip baresip-core tftp-hpa iputils-ping \
	snmp snmpd snmptrapd smitools \
	libpri-dev libspandsp-dev libsrtp2-dev \
	espeak-ng sox lame tshark \
	chromium fonts-wqy-microhei \
	openssh-server openssh-client restic \
	qemu-system-x86 debootstrap squashfs-tools rauc \
	mmdebstrap ovmf grub-efi-amd64-bin grub-common mtools dosfstools fdisk bmap-tools zstd qemu-utils \
	dbus-daemon

.PHONY: setup run test test-fast lint typecheck bench clean
setup: .stamp-apt $(VENV)/.stamp-pip $(WEB_ASSETS)

# The web UI's third-party files come from npm by the committed lock file; only their dist files are served.
# Debian 12's nodejs and npm do (`npm ci`); a machine that already has npm keeps its own.
.stamp-node:
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }
	@touch $@

web_ui/frontend/node_modules/.package-lock.json: web_ui/frontend/package-lock.json .stamp-node
	cd web_ui/frontend && npm ci --no-audit --no-fund --loglevel=error

$(WEB_ASSETS): web_ui/frontend/node_modules/.package-lock.json $(wildcard web_ui/static/*) web_ui/assets.py $(VENV)/.stamp-pip
	$(PY) -m web_ui.assets

.stamp-apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(VENV)/.stamp-pip: pyproject.toml setup.py appliance/media/_rtp_relay.c .stamp-apt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

run: setup
	$(VENV)/bin/appliance run

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	bash tests/run_suite.sh $(VENV)

# The fast set while working: everything not marked slow.
test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow" -x

include image_build/image.mk

clean:
	rm -rf $(VENV) .stamp-apt .mypy_cache .ruff_cache .pytest_cache
