# The box image: `make keys` (development signing PKI in build/keys), `make image` (build/image/out: the raw
# GPT image, its bmap and zstd copy with SHA-256s, the RAUC bundle and manifest.json), `make image-lock`.
IMAGE_KEYS := build/keys

.PHONY: image keys image-lock image-clean
keys:
	sh image_build/keys.sh $(IMAGE_KEYS)

image: setup keys
	$(SUDO) $(PY) image_build/build.py --keys $(IMAGE_KEYS)

image-lock: setup
	$(PY) image_build/lock.py

image-clean:
	$(SUDO) rm -rf build/image
