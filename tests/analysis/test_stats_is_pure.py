import subprocess
import sys

from tests.conftest import REPO


def test_importing_the_statistics_engine_loads_no_django():
    code = ("import sys, analysis.stats, analysis.stats.contract; "
            "import analysis.stats.rm_anova, analysis.stats.mixed_model; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
