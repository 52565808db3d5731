"""Does this llama.cpp build run on this CPU? ``make install`` asks once, after installing.

A llama-cpp-python wheel compiled with ``-march=native`` (its default) uses every instruction the build
machine's CPU announces. Some virtual machines announce instructions they do not let a process use: seen
here, a CPU reporting Intel AMX (``amx_tile``) whose tile instructions end the process with SIGILL on the
first matrix multiply. pip caches the built wheel by the sdist's hash alone, so such a wheel keeps coming
back. This check loads the packaged model in a child process and generates two tokens; a child killed by a
signal means the build does not run here, and ``make install`` rebuilds it portable (``CMAKE_ARGS`` in the
Makefile: AVX2/FMA/F16C, no native tuning, no AMX) without pip's cache.

Exit status: 0 it runs (or there is no local model to check with), 1 it does not.
"""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import llama_cpp, sys
m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
m("Hello", max_tokens=2)
"""


def _say(text: str, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def main() -> int:
    from runtime.errors import NotFound
    from runtime.llm.catalog import build_catalog, resolve_weights
    from runtime.settings import get_settings

    settings = get_settings()
    spec = build_catalog(settings).get(settings.llm_default_model)
    try:
        weights = resolve_weights(spec, settings) if spec is not None and spec.backend == "llama_cpp" else None
    except NotFound as exc:
        _say(f"llama.cpp check skipped: {exc}")
        return 0
    if weights is None:
        _say("llama.cpp check skipped: the default model is not a GGUF")
        return 0
    done = subprocess.run([sys.executable, "-c", _CHILD, str(weights)], capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        _say(f"llama.cpp runs on this CPU ({weights.name})")
        return 0
    why = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    _say(f"llama.cpp does not run on this CPU ({why}): {done.stderr.strip()[-300:]}", err=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
