"""Static assets: the build step that fingerprints and pre-compresses them, and the route that serves them.

Third-party files come from npm (`web_ui/frontend/package.json` and its lock file); only their `dist` files are
copied here. Every served file gets its content hash in its name, so it can be cached for a year, and a gzip
copy made once at build time, so the box never compresses on the request path. `python -m web_ui.assets`
(run by `make`) writes `static_build/` and its `manifest.json`; the server only reads them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

HERE = Path(__file__).resolve().parent
FRONTEND = HERE / "frontend"
OWN_STATIC = HERE / "static"
BUILD_DIR = HERE / "static_build"
MANIFEST = "manifest.json"
URL_PREFIX = "/static"
YEAR = 365 * 24 * 3600

# Logical name -> (npm package, file inside the package). Only these files are ever served.
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "vendor/htmx.js": ("htmx.org", "dist/htmx.min.js"),
    "vendor/alpine-csp.js": ("@alpinejs/csp", "dist/cdn.min.js"),
    "vendor/drawflow.js": ("drawflow", "dist/drawflow.min.js"),
    "vendor/drawflow.css": ("drawflow", "dist/drawflow.min.css"),
    # line, bar and pie charts with the SVG renderer (the "simple" build has no SVG renderer)
    "vendor/echarts.js": ("echarts", "dist/echarts.common.min.js"),
}
MIME = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
        ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".json": "application/json"}


class AssetsMissing(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class License:
    package: str
    version: str
    license: str
    homepage: str


@dataclass(frozen=True, slots=True)
class AssetManifest:
    """Logical name -> hashed file name, plus the licences of the third-party packages they came from."""

    files: dict[str, str]
    licenses: tuple[License, ...]
    root: Path

    def url(self, name: str) -> str:
        try:
            return f"{URL_PREFIX}/{self.files[name]}"
        except KeyError:
            raise AssetsMissing(f"asset {name!r} is not in the build; run `make` to build the web assets") from None

    @classmethod
    def load(cls, root: Path = BUILD_DIR) -> AssetManifest:
        path = root / MANIFEST
        if not path.exists():
            raise AssetsMissing(f"{path} is missing: run `make` (it installs the front-end packages and builds them)")
        data = json.loads(path.read_text())
        return cls(dict(data["files"]), tuple(License(**x) for x in data["licenses"]), root)


def _package_meta(package: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((FRONTEND / "node_modules" / package / "package.json").read_text())
    return meta


def _emit(out: Path, logical: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem, dot, ext = logical.rpartition(".")
    hashed = f"{stem}.{digest}.{ext}" if dot else f"{logical}.{digest}"
    target = out / hashed
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    # mtime=0: the same input gives the same bytes, so rebuilding changes nothing.
    target.with_name(target.name + ".gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return hashed


def build(out: Path = BUILD_DIR) -> AssetManifest:
    """Copy, fingerprint and compress every asset into `out` (replacing what was there)."""
    modules = FRONTEND / "node_modules"
    if not modules.is_dir():
        raise AssetsMissing(f"{modules} is missing: run `npm ci` in {FRONTEND} (make does)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files: dict[str, str] = {}
    for logical, (package, inner) in VENDOR_FILES.items():
        files[logical] = _emit(tmp, logical, (modules / package / inner).read_bytes())
    for path in sorted(OWN_STATIC.rglob("*")):
        if path.is_file():
            logical = path.relative_to(OWN_STATIC).as_posix()
            files[logical] = _emit(tmp, logical, path.read_bytes())
    licenses = []
    for package in sorted({p for p, _ in VENDOR_FILES.values()}):
        meta = _package_meta(package)
        licenses.append({"package": package, "version": str(meta.get("version", "")),
                         "license": str(meta.get("license", "")), "homepage": str(meta.get("homepage", ""))})
    (tmp / MANIFEST).write_text(json.dumps({"files": files, "licenses": licenses}, indent=1, sort_keys=True))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return AssetManifest.load(out)


def static_blueprint(manifest: AssetManifest) -> Blueprint:
    """Serves only the files in the manifest: hashed names, cached for a year, gzip when the client takes it."""
    bp = Blueprint("static_assets", url_prefix="")
    # Read once at start-up (a few hundred KB): serving never touches the disk on the event loop.
    plain = {name: (manifest.root / name).read_bytes() for name in manifest.files.values()}
    packed = {name: (manifest.root / f"{name}.gz").read_bytes() for name in manifest.files.values()}

    async def asset(request: Request, path: str) -> HTTPResponse:
        if path not in plain:
            return HTTPResponse(status=404)
        headers = {"Cache-Control": f"public, max-age={YEAR}, immutable", "Vary": "Accept-Encoding"}
        mime = MIME.get(Path(path).suffix, "application/octet-stream")
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return raw(packed[path], content_type=mime, headers=headers)
        return raw(plain[path], content_type=mime, headers=headers)

    bp.add_route(asset, f"{URL_PREFIX}/<path:path>", methods=["GET"], name="asset")
    return bp


def main() -> int:
    manifest = build()
    total = sum((manifest.root / f).stat().st_size for f in manifest.files.values())
    print(f"web assets: {len(manifest.files)} files, {total / 1024:.0f} KB, into {manifest.root.name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
