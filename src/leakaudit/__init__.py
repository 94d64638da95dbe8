"""leakaudit: find Go resources that are acquired and never released."""

__version__ = "0.1.0"
