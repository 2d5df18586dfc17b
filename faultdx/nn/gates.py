"""The one squeeze-and-excitation style gate that APReLU, shrinkage and DY-ReLU compute their per-sample
parameters with: FC → [BN] → ReLU → FC → [BN] → [sigmoid] on a pooled ``[N, features]`` vector.

The three activations differ only in which bracketed layers they use. The layer order (and so the
state_dict keys ``0.*``, ``1.*``, ``3.*``, … of the returned :class:`torch.nn.Sequential`) and the order in
which the layers are created (and so what a seeded initialisation draws) are those each used to build alone.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def se_gate(
    in_features: int,
    hidden: int,
    out_features: int,
    *,
    hidden_norm: bool = True,
    out_norm: bool = False,
    sigmoid: bool = True,
) -> nn.Sequential:
    """Build ``FC(in → hidden) → [BN] → ReLU → FC(hidden → out) → [BN] → [sigmoid]``.

    Args:
        in_features: width of the pooled input vector.
        hidden: width of the bottleneck.
        out_features: one value per gated quantity (a channel, or a coefficient).
        hidden_norm: BatchNorm after the first FC (APReLU, shrinkage: yes; DY-ReLU: no).
        out_norm: BatchNorm after the second FC (APReLU only).
        sigmoid: squash to (0, 1) (DY-ReLU applies its own ``2σ − 1`` outside the gate).
    """
    if min(in_features, hidden, out_features) < 1:
        raise ValueError(f"se_gate: widths must be >= 1, got {in_features}, {hidden}, {out_features}")
    layers: list[nn.Module] = [nn.Linear(in_features, hidden)]
    if hidden_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(), nn.Linear(hidden, out_features)]
    if out_norm:
        layers.append(nn.BatchNorm1d(out_features))
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def keep_state_dict_names(module: nn.Module, renames: dict[str, str]) -> None:
    """Save and load ``module``'s state under older key prefixes (``{"gate.0.": "fc1."}``).

    A module that moved its layers into a :func:`se_gate` keeps the key names of the checkpoints written
    before, so those checkpoints load (strictly) and new ones read the same.
    """

    def rename(state: dict[str, Tensor], prefix: str, mapping: Callable[[str], str | None]) -> None:
        own = [k for k in state if k.startswith(prefix)]
        for key in own:  # pop and re-insert every own key: the relative order of the keys is kept
            local = key[len(prefix) :]
            new = mapping(local)
            state[prefix + (new if new is not None else local)] = state.pop(key)

    def to_old(local: str) -> str | None:
        return next((old + local[len(new) :] for new, old in renames.items() if local.startswith(new)), None)

    def to_new(local: str) -> str | None:
        return next((new + local[len(old) :] for new, old in renames.items() if local.startswith(old)), None)

    def on_save(mod: nn.Module, state: dict[str, Tensor], prefix: str, _meta: object) -> None:
        rename(state, prefix, to_old)

    def on_load(mod: nn.Module, state: dict[str, Tensor], prefix: str, *_args: object) -> None:
        rename(state, prefix, to_new)

    module.register_state_dict_post_hook(on_save)
    module.register_load_state_dict_pre_hook(on_load)
