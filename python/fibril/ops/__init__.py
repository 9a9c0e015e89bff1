"""Autograd Functions, one module per kernel family."""
