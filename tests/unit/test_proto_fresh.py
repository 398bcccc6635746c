import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_proto(tmp_path):
    subprocess.run(["bash", str(ROOT / "scripts/gen_proto.sh"), str(tmp_path)], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHON=sys.executable))
    committed = ROOT / "cluster/_proto"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "gen_proto.sh produced nothing"
    for rel in generated:
        assert (committed / rel).read_text() == (tmp_path / rel).read_text(), \
            f"cluster/_proto/{rel} is stale: run scripts/gen_proto.sh and commit the result"
