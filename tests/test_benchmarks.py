"""The GPU benchmark script runs anywhere (on the CPU when no GPU is visible) and writes
its table and JSON."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_measures_every_precision_and_compile_mode_and_pixels(tmp_path):
    env = dict(os.environ, QUICK="1", OUT=str(tmp_path), PYTHON=sys.executable,
               CUDA_VISIBLE_DEVICES="")
    subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh")], check=True, env=env,
                   timeout=600, cwd=tmp_path)
    result = json.loads((tmp_path / "gpu.json").read_text())
    modes = {(r["precision"], r["compile"]) for r in result["rows"]}  # compile: what ran
    assert modes == {("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)}
    for r in result["rows"]:
        assert math.isfinite(r["update_s"]) and r["update_s"] > 0
        assert r["world_model_flops"] > 0 and r["imagination_ac_flops"] > 0
    (training,) = result["training"]  # real training: env steps and updates both advanced
    assert training["env_steps_per_s"] > 0 and training["updates_per_s"] > 0
    (pixels,) = json.loads((tmp_path / "gpu-pixels.json").read_text())["rows"]
    assert pixels["obs"] == "pixels" and math.isfinite(pixels["update_s"])
    assert pixels["world_model_flops"] > result["rows"][0]["world_model_flops"]  # the convnets
    table = (tmp_path / "gpu.md").read_text()
    assert table.count("| cpu (vector") == 4 and table.count("| cpu (pixels") == 1
