"""faultdx: rolling-bearing fault diagnosis with APReLU deep residual networks.

One path, shared by training, the CLI, the service and the page:
signals -> windows -> network -> diagnosis (+ per-sample APReLU slopes).
"""

__version__ = "0.1.0"
