import json

import pytest

from cluster.config import ConfigError
from cluster.replica.engines.simulated.fit import Point, fit, points_of, replay
from cluster.replica.engines.simulated.timing import load_calibration, shipped


def test_the_shipped_calibrations_load():
    assert {"h100-gpt-oss-120b", "instant", "tiny-cpu"} <= set(shipped())
    for name in shipped():
        assert load_calibration(name).kv_tokens("auto") > 0


def test_the_h100_calibration_reproduces_its_measured_points():
    calibration = load_calibration("h100-gpt-oss-120b")
    refitted = fit(points_of(calibration.points), calibration)
    errors = sorted(abs(p["error"]) for p in refitted.points)
    assert len(errors) == 8
    assert errors[5] < 0.06  # six of eight points within 6 % (docs/scale.md lists each point's error)
    assert refitted.points == calibration.points  # the shipped file is the fit of its own points


def test_the_fit_recovers_known_parameters():
    truth = load_calibration("instant")
    from dataclasses import replace
    truth = replace(truth, base_s=0.004, per_prefill_token_s=2e-5, per_decode_seq_s=1e-4)
    points = []
    for requests, prompt in ((1, 64), (8, 256), (32, 512)):
        point = Point(requests, prompt, 100, 1.0)
        wall = sum(getattr(truth, f) * x for f, x in zip(("base_s", "expert_load_s", "per_prefill_token_s",
                                                          "per_decode_seq_s", "per_context_token_s"),
                                                         replay(point, truth).features))
        points.append(Point(requests, prompt, 100, requests * 100 / wall))
    fitted = fit(points, truth)
    assert fitted.base_s == pytest.approx(0.004, rel=1e-6)
    assert fitted.per_prefill_token_s == pytest.approx(2e-5, rel=1e-6)
    assert all(abs(p["error"]) < 1e-9 for p in fitted.points)


def test_a_bad_calibration_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither a shipped calibration"):
        load_calibration("no-such-gpu")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad"}))
    with pytest.raises(ConfigError, match="bad.json"):
        load_calibration(str(bad))
