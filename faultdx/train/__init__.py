"""Training and honest evaluation: typed run configs, the device-resident training loop, checkpoints
(safetensors + JSON model directories), reports and activation comparisons.

Modules: ``config`` (run config), ``prepare`` (config -> leakage-free splits), ``optim`` (network, AdamW,
schedule), ``device`` (device + mixed precision), ``distributed`` (DDP), ``loop`` (one epoch, prediction),
``state`` (resume), ``run`` (a whole run; model directories are :mod:`faultdx.modeldir`),
``metrics``, ``plots``, ``report`` (`faultdx evaluate`), ``compare`` (`faultdx compare`).
"""
