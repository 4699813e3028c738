"""Bounded chaos runs (tests/chaos/run.py): brokers SIGKILLed and restarted at random under
mixed HTTP and RESP clients, then storage checked against the history (checker.py).

`SQ_CHAOS_SECONDS` sets the chaos time of each run (default 40), `SQ_CHAOS_SEED` the
seed (default: a random one, printed when the run fails). `make chaos` runs longer.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.support.moto import MotoServer

from .run import Result, Setup, run_chaos

SECONDS = float(os.environ.get("SQ_CHAOS_SECONDS", "40"))
SEED = int(os.environ.get("SQ_CHAOS_SEED", random.randrange(1 << 32)))
# Start-up, clients finishing their calls, the final stop and the check, on a busy machine.
OVERHEAD = 180


def assert_clean(result: Result, tmp_path: Path) -> None:
    if result.report.violations:
        saved = tmp_path / "history.json"
        result.save(saved)
        pytest.fail(
            f"{result.summary()}\nhistory: {saved}\n"
            f"rerun with SQ_CHAOS_SEED={result.setup.seed} (timings differ, the schedule not)",
            pytrace=False,
        )
    figures = result.figures
    assert figures["kills"] >= 1 and figures["acked_enqueues"] > 0, figures
    assert figures["acked_completions"] > 0, figures


@pytest.mark.timeout(SECONDS + OVERHEAD)
async def test_three_brokers_on_one_directory_survive_kills(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = await run_chaos(Setup(SECONDS, SEED, 3, data_dir=data))
    assert_clean(result, tmp_path)


@pytest.mark.timeout(SECONDS + OVERHEAD)
async def test_two_brokers_on_s3_survive_kills(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    setup = Setup(SECONDS, SEED, 2, s3_endpoint=moto_server.endpoint_url, s3_bucket=s3_bucket)
    result = await run_chaos(setup)
    assert_clean(result, tmp_path)
