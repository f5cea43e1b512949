"""Run the quickstart from Python with a custom stage added (python examples/python_api.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from custom_stage import link_share

from corpusforge.pipeline import Pipeline

if __name__ == "__main__":
    result = Pipeline(
        "examples/quickstart.yaml",
        output="out/python-api",
        extra_stages=[link_share(max_share=0.1)],
    ).run()
    print(f"{result.kept} kept, {result.rejected} rejected, {result.quarantined} quarantined")
    print("rejected by reason:", result.rejects_by_reason)
